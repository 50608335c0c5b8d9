import { useEffect, useState } from 'preact/hooks';
import { api, can } from '../api.js';
import { usePoll, PageHeader, LoadError, Empty, Badge, Link, Dialog, Field, FormError, useSubmit, ConfirmDialog, notify } from '../components.jsx';

export function Hosts({ session }) {
  useEffect(() => { document.title = 'Hosts · vvolgate'; }, []);
  const hosts = usePoll(() => api.hosts(), [], 10000);
  const vvols = usePoll(() => api.vvols({ bound: true }), [], 10000);
  const [registering, setRegistering] = useState(false);
  const [removing, setRemoving] = useState(null);
  const change = can('change', session);
  const name = (id) => vvols.data?.find((v) => v.id === id)?.name || id.slice(0, 8);
  return (
    <>
      <PageHeader title="Hosts" subtitle="ESXi and Linux hosts registered by NQN, and what is bound to them">
        {change && <button type="button" class="primary" onClick={() => setRegistering(true)}>+ Register host</button>}
      </PageHeader>
      <LoadError error={hosts.error} onRetry={hosts.reload} />
      <div class="card flush">
        <div class="table-wrap">
          <table class="table stack" aria-label="Hosts" data-testid="host-table">
            <thead><tr><th scope="col">Name</th><th scope="col">Connection</th><th scope="col">Bound volumes</th>{change && <th scope="col"><span class="sr-only">Actions</span></th>}</tr></thead>
            <tbody>
              {(hosts.data || []).map((h) => (
                <tr key={h.id} data-testid="host-row" data-name={h.name}>
                  <th scope="row">{h.name}<div class="mono small muted break">{h.nqn}</div>{h.wwpns?.length > 0 && <div class="mono small muted">{h.wwpns.join(', ')}</div>}</th>
                  <td>{h.connected ? <Badge tone="good">connected · {h.controllers} controller{h.controllers === 1 ? '' : 's'}</Badge> : <Badge>not connected</Badge>}</td>
                  <td>
                    {h.boundVvolIds.length === 0 ? <span class="muted">none</span> : (
                      <ul class="inline-list">{h.boundVvolIds.map((id) => <li key={id}><Link href={`/volumes/${id}`}>{name(id)}</Link></li>)}</ul>
                    )}
                  </td>
                  {change && <td class="actions"><button type="button" class="small danger-outline" onClick={() => setRemoving(h)} aria-label={`Unregister ${h.name}`}>Unregister</button></td>}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        {hosts.data?.length === 0 && <Empty>No hosts registered. A host must be registered before volumes can be bound to it.</Empty>}
      </div>
      <RegisterHost open={registering} onClose={() => setRegistering(false)} onDone={(h) => { setRegistering(false); notify(`Host ${h.name} registered`); hosts.reload(); }} />
      <ConfirmDialog open={!!removing} onClose={() => setRemoving(null)} title={`Unregister ${removing?.name}?`} confirmLabel="Unregister host"
        onConfirm={async () => { await api.unregisterHost(removing.id); notify(`Host ${removing.name} unregistered`); hosts.reload(); return true; }}>
        <p>The host <strong>{removing?.name}</strong> may no longer connect to the containers' subsystems.</p>
        {removing?.boundVvolIds.length > 0 && <p class="warn-text">{removing.boundVvolIds.length} volume(s) are bound to it: the appliance refuses until they are unbound.</p>}
      </ConfirmDialog>
    </>
  );
}

function RegisterHost({ open, onClose, onDone }) {
  const [name, setName] = useState('');
  const [nqn, setNqn] = useState('');
  const { busy, error, setError, run } = useSubmit(async () => onDone(await api.registerHost({ name: name.trim(), nqn: nqn.trim() })) ?? true);
  useEffect(() => { if (open) { setName(''); setNqn(''); setError(null); } }, [open]);
  return (
    <Dialog open={open} title="Register a host" onClose={onClose} testId="register-host"
      footer={<><button type="button" onClick={onClose}>Cancel</button><button type="submit" form="host-form" class="primary" disabled={busy}>{busy ? 'Registering…' : 'Register'}</button></>}>
      <form id="host-form" onSubmit={(e) => { e.preventDefault(); run(); }}>
        <Field label="Name" name="name" error={error}>
          {(p) => <input {...p} value={name} onInput={(e) => setName(e.target.value)} required maxLength={128} autofocus placeholder="e.g. esx01" />}
        </Field>
        <Field label="Host NQN" name="nqn" error={error} hint="Linux: /etc/nvme/hostnqn. ESXi: esxcli nvme info get.">
          {(p) => <input {...p} class="mono" value={nqn} onInput={(e) => setNqn(e.target.value)} required placeholder="nqn.2014-08.com.vmware:nvme:esx01" spellcheck={false} autocapitalize="off" />}
        </Field>
        <FormError error={error} fields={['name', 'nqn']} />
      </form>
    </Dialog>
  );
}
