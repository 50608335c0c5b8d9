import { test } from 'node:test';
import assert from 'node:assert/strict';
import { errorField, errorMessage } from '../../src/errors.js';

test('the field is the API\'s own when it names one', () => {
  assert.equal(errorField({ code: 'name_taken', message: 'taken', field: 'name' }), 'name');
});

test('a schema check names its field by a JSON pointer at the end of the message', () => {
  const e = { code: 'invalid_request', message: 'the request does not match the API document: Property "nqn" does not match schema (at #/nqn)' };
  assert.equal(errorField(e), 'nqn');
  assert.equal(errorField({ code: 'x', message: 'does not match (at /sizeBytes)' }), 'sizeBytes');
  assert.equal(errorField({ code: 'x', message: 'no pointer here' }), undefined);
  assert.equal(errorField(undefined), undefined);
});

test('a schema check is put in words; any other message is the API\'s own sentence', () => {
  const e = { code: 'invalid_request', message: 'the request does not match the API document: Property "nqn" does not match schema (at #/nqn)' };
  assert.match(errorMessage(e, 'nqn'), /starts with .nqn\../);
  const taken = { code: 'name_taken', message: 'storage container pool already has a virtual volume named "x"', field: 'name' };
  assert.equal(errorMessage(taken, 'name'), 'Storage container pool already has a virtual volume named "x"');
  assert.equal(errorMessage({ code: 'invalid_request', message: 'does not match (at #/weird)' }, 'weird'), 'Does not match (at #/weird)');
  assert.equal(errorMessage(undefined), undefined);
});
