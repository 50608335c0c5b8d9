import { useEffect, useState } from 'preact/hooks';
import { api, can } from '../api.js';
import { usePoll, PageHeader, LoadError, Empty, Badge, StateBadge, Dialog, Field, FormError, useSubmit, ConfirmDialog, notify } from '../components.jsx';
import { bytes, count, dateTime, shortId } from '../format.js';

export function Containers({ session }) {
  useEffect(() => { document.title = 'Containers & policies · vvolgate'; }, []);
  const containers = usePoll(() => api.containers(), [], 15000);
  const profiles = usePoll(() => api.profiles(), [], 15000);
  const [creating, setCreating] = useState(false);
  const [deleting, setDeleting] = useState(null);
  const change = can('change', session);
  return (
    <>
      <PageHeader title="Storage containers" subtitle="Pools of devices, each a vVol datastore, and what they can offer" />
      <LoadError error={containers.error} onRetry={containers.reload} />
      <div class="container-cards">
        {(containers.data || []).map((c) => (
          <section class="card" key={c.id} aria-label={c.name} data-testid="container-card">
            <div class="card-head">
              <h2>{c.name}</h2>
              <div>{c.mirrored ? <Badge tone="info">mirrored</Badge> : <Badge>single device</Badge>} {c.state && <StateBadge state={c.state} />}</div>
            </div>
            <dl class="props">
              <dt>Capacity</dt><dd>{bytes(c.space.capacityBytes)} <span class="muted">({bytes(c.space.freeBytes)} free)</span></dd>
              <dt>Provisioned</dt><dd>{bytes(c.space.provisionedBytes)} in {c.space.volumes} volumes, {c.space.snapshots} snapshots</dd>
              <dt>Provisioning</dt><dd>{c.capabilities.provisioning.join(', ')}</dd>
              <dt>Block sizes</dt><dd>{c.capabilities.lbaSizes.join(', ')} bytes</dd>
              <dt>Snapshots kept</dt><dd>up to {c.capabilities.maxSnapshotRetention} per volume</dd>
              <dt>QoS</dt>
              <dd>
                {[c.capabilities.qos.iopsLimit && 'IOPS limit', c.capabilities.qos.throughputLimit && 'throughput limit'].filter(Boolean).join(', ') || 'none'}
                {c.capabilities.qos.iopsReservationCapacity > 0 && <div class="muted small">reservations: {count(c.capabilities.qos.iopsReserved || 0)} of {count(c.capabilities.qos.iopsReservationCapacity)} IOPS promised</div>}
              </dd>
              <dt>Protocol endpoints</dt><dd class="mono">{c.protocolEndpointIds.map(shortId).join(', ') || '—'}</dd>
              <dt>ID</dt><dd class="mono small">{c.id}</dd>
            </dl>
          </section>
        ))}
      </div>
      {containers.data?.length === 0 && <Empty>No storage containers are configured.</Empty>}

      <PageHeader title="Capability profiles" subtitle="Storage policies that volumes are created against">
        {change && <button type="button" class="primary" onClick={() => setCreating(true)}>+ Create policy</button>}
      </PageHeader>
      <LoadError error={profiles.error} onRetry={profiles.reload} />
      <div class="card flush">
        <div class="table-wrap">
          <table class="table stack" aria-label="Capability profiles" data-testid="profile-table">
            <thead><tr><th scope="col">Name</th><th scope="col">Provisioning</th><th scope="col" class="num">Block</th><th scope="col">QoS</th><th scope="col" class="num hide-sm">Snapshots kept</th><th scope="col" class="num">Volumes</th><th scope="col" class="hide-sm">Created</th>{change && <th scope="col"><span class="sr-only">Actions</span></th>}</tr></thead>
            <tbody>
              {(profiles.data || []).map((p) => (
                <tr key={p.id} data-testid="profile-row" data-name={p.name}>
                  <th scope="row">{p.name}{p.description && <div class="muted small">{p.description}</div>}</th>
                  <td>{p.provisioning}</td>
                  <td class="num">{p.lbaSize}</td>
                  <td>{qos(p) || <span class="muted">none</span>}</td>
                  <td class="num hide-sm">{p.snapshotRetention ?? '—'}</td>
                  <td class="num">{p.volumes ?? '—'}</td>
                  <td class="hide-sm">{dateTime(p.createdAt)}</td>
                  {change && <td class="actions"><button type="button" class="small danger-outline" onClick={() => setDeleting(p)} aria-label={`Delete policy ${p.name}`}>Delete</button></td>}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        {profiles.data?.length === 0 && <Empty>No policies yet. Volumes without a policy get the container's defaults.</Empty>}
      </div>
      <CreateProfile open={creating} onClose={() => setCreating(false)} onDone={(p) => { setCreating(false); notify(`Policy ${p.name} created`); profiles.reload(); }} />
      <ConfirmDialog open={!!deleting} onClose={() => setDeleting(null)} title={`Delete policy ${deleting?.name}?`} confirmLabel="Delete policy"
        onConfirm={async () => { await api.deleteProfile(deleting.id); notify(`Policy ${deleting.name} deleted`); profiles.reload(); return true; }}>
        <p>Volumes can no longer be created with <strong>{deleting?.name}</strong>. The appliance refuses while a volume uses it.</p>
      </ConfirmDialog>
    </>
  );
}

function qos(p) {
  return [
    p.iopsLimit && `≤ ${count(p.iopsLimit)} IOPS`,
    p.throughputLimitMBps && `≤ ${p.throughputLimitMBps} MB/s`,
    p.iopsReservation && `${count(p.iopsReservation)} IOPS reserved`,
  ].filter(Boolean).join(', ');
}

function CreateProfile({ open, onClose, onDone }) {
  const blank = { name: '', description: '', provisioning: 'thin', lbaSize: '512', iopsLimit: '', throughputLimitMBps: '', iopsReservation: '', snapshotRetention: '' };
  const [p, setP] = useState(blank);
  const set = (k) => (e) => setP({ ...p, [k]: e.target.value });
  const { busy, error, setError, run } = useSubmit(async () => {
    const body = { name: p.name.trim(), provisioning: p.provisioning, lbaSize: Number(p.lbaSize) };
    if (p.description.trim()) body.description = p.description.trim();
    for (const k of ['iopsLimit', 'throughputLimitMBps', 'iopsReservation', 'snapshotRetention']) {
      if (String(p[k]).trim() !== '') body[k] = Number(p[k]);
    }
    return onDone(await api.createProfile(body)) ?? true;
  });
  useEffect(() => { if (open) { setP(blank); setError(null); } }, [open]);
  const num = (k, label, hint) => (
    <Field label={label} name={k} error={error} hint={hint}>
      {(f) => <input {...f} inputmode="numeric" value={p[k]} onInput={set(k)} placeholder="no limit" />}
    </Field>
  );
  return (
    <Dialog open={open} title="Create a storage policy" onClose={onClose} testId="create-profile"
      footer={<><button type="button" onClick={onClose}>Cancel</button><button type="submit" form="profile-create" class="primary" disabled={busy}>{busy ? 'Creating…' : 'Create policy'}</button></>}>
      <form id="profile-create" class="form-grid" onSubmit={(e) => { e.preventDefault(); run(); }}>
        <Field label="Name" name="name" error={error} class="span-2">
          {(f) => <input {...f} value={p.name} onInput={set('name')} required maxLength={128} autofocus placeholder="e.g. gold" />}
        </Field>
        <Field label="Description" name="description" error={error} class="span-2">
          {(f) => <input {...f} value={p.description} onInput={set('description')} maxLength={1024} />}
        </Field>
        <Field label="Provisioning" name="provisioning" error={error}>
          {(f) => <select {...f} value={p.provisioning} onChange={set('provisioning')}><option value="thin">thin</option><option value="thick">thick</option></select>}
        </Field>
        <Field label="Block size" name="lbaSize" error={error}>
          {(f) => <select {...f} value={p.lbaSize} onChange={set('lbaSize')}><option value="512">512 bytes</option><option value="4096">4096 bytes</option></select>}
        </Field>
        {num('iopsLimit', 'IOPS limit')}
        {num('throughputLimitMBps', 'Throughput limit (MB/s)')}
        {num('iopsReservation', 'IOPS reservation')}
        {num('snapshotRetention', 'Snapshots kept', '1 to 256; the oldest go first')}
        <div class="span-2"><FormError error={error} fields={Object.keys(blank)} /></div>
      </form>
    </Dialog>
  );
}
