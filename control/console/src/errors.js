// How an API error ({"error": {code, message, field}}) is turned into words next to a form field.

/**
 * The request field an error is about: the API's `field`, else the JSON pointer that a schema
 * validation message ends with ("... (at /sizeBytes)").
 */
export function errorField(e) {
  if (e?.field) return e.field;
  const m = /\(at #?\/([A-Za-z0-9_]+)[^)]*\)\s*$/.exec(e?.message || '');
  return m ? m[1] : undefined;
}

// What the API document asks of a field, in words, for the schema checks that answer only
// "does not match schema".
const FIELD_RULES = {
  name: 'Enter a name (1 to 200 characters).',
  nqn: 'Enter the host\u2019s NQN: it starts with \u201cnqn.\u201d and has 11 to 223 characters.',
  sizeBytes: 'Enter a positive size.',
  username: 'Use 1 to 64 lower-case letters, digits, \u201c.\u201d, \u201c_\u201d or \u201c-\u201d, starting with a letter.',
  password: 'Use at least 12 characters.',
  iopsLimit: 'Enter a whole number of at least 1, or leave it empty.',
  throughputLimitMBps: 'Enter a whole number of at least 1, or leave it empty.',
  iopsReservation: 'Enter a whole number of at least 1, or leave it empty.',
  snapshotRetention: 'Enter a whole number from 1 to 256, or leave it empty.',
  description: 'Use at most 1024 characters.',
};

export function errorMessage(e, field) {
  if (e?.code === 'invalid_request' && field && FIELD_RULES[field] && /does not match/.test(e.message || '')) return FIELD_RULES[field];
  return sentence(e?.message);
}

/** The API's sentence as a sentence: a capital first letter. */
function sentence(m) {
  return m ? m.charAt(0).toUpperCase() + m.slice(1) : m;
}
