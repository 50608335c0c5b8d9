import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, can, localError } from '../api.js';
import { navigate } from '../router.js';
import {
  usePoll, PageHeader, LoadError, Empty, Badge, StateBadge, Link, Dialog, Field, FormError, useSubmit,
  ConfirmDialog, Progress, notify, trackTask,
} from '../components.jsx';
import { bytes, parseSize, splitSize, sizeUnits, shortId, percent } from '../format.js';
import { familyTree } from '../family.js';

const TYPES = ['config', 'data', 'swap', 'memory', 'other'];

/** The lists every volume page names things from: containers, profiles and hosts by ID. */
function useCatalog() {
  const containers = usePoll(() => api.containers(), [], 30000);
  const profiles = usePoll(() => api.profiles(), [], 30000);
  const hosts = usePoll(() => api.hosts(), [], 15000);
  return useMemo(() => ({
    containers: containers.data || [],
    profiles: profiles.data || [],
    hosts: hosts.data || [],
    containerName: (id) => containers.data?.find((c) => c.id === id)?.name || shortId(id),
    profileName: (id) => (id ? profiles.data?.find((p) => p.id === id)?.name || shortId(id) : null),
    hostName: (id) => hosts.data?.find((h) => h.id === id)?.name || shortId(id),
    reloadHosts: hosts.reload,
  }), [containers.data, profiles.data, hosts.data]);
}

export function Volumes({ session }) {
  useEffect(() => { document.title = 'Virtual volumes · vvolgate'; }, []);
  const cat = useCatalog();
  const [f, setF] = useState({ q: '', type: '', profile: '', host: '', bound: '', snapshots: 'false' });
  const set = (k) => (e) => setF({ ...f, [k]: e.target.value });
  const [q, setQ] = useState('');
  useEffect(() => { const t = setTimeout(() => setF((x) => ({ ...x, q })), 250); return () => clearTimeout(t); }, [q]);
  const list = usePoll(() => api.vvols(f), [JSON.stringify(f)], 10000);
  const [creating, setCreating] = useState(false);
  const [showFilters, setShowFilters] = useState(false);
  const filtered = Object.entries(f).some(([k, v]) => v && !(k === 'snapshots' && v === 'false'));

  return (
    <>
      <PageHeader title="Virtual volumes" subtitle="VM disks and files, with their snapshots and clones">
        {can('change', session) && <button type="button" class="primary" onClick={() => setCreating(true)}>+ Create volume</button>}
      </PageHeader>
      <form class={`filters card${showFilters ? ' show-all' : ''}`} role="search" aria-label="Filter volumes" onSubmit={(e) => e.preventDefault()}>
        <Field label="Search" name="q">
          {(p) => <input {...p} type="search" placeholder="Part of the name" value={q} onInput={(e) => setQ(e.target.value)} />}
        </Field>
        <button type="button" class="filters-toggle" aria-expanded={showFilters} onClick={() => setShowFilters(!showFilters)}>
          {showFilters ? 'Fewer filters' : `Filters${filtered ? ' (on)' : ''}`}
        </button>
        <Field label="Type" name="type">
          {(p) => <select {...p} value={f.type} onChange={set('type')}><option value="">Any</option>{TYPES.map((t) => <option key={t} value={t}>{t}</option>)}</select>}
        </Field>
        <Field label="Policy" name="profile">
          {(p) => <select {...p} value={f.profile} onChange={set('profile')}><option value="">Any</option>{cat.profiles.map((x) => <option key={x.id} value={x.id}>{x.name}</option>)}</select>}
        </Field>
        <Field label="Host" name="host">
          {(p) => <select {...p} value={f.host} onChange={set('host')}><option value="">Any</option>{cat.hosts.map((h) => <option key={h.id} value={h.id}>{h.name}</option>)}</select>}
        </Field>
        <Field label="Bound" name="bound">
          {(p) => <select {...p} value={f.bound} onChange={set('bound')}><option value="">Any</option><option value="true">Bound</option><option value="false">Not bound</option></select>}
        </Field>
        <Field label="Snapshots" name="snapshots">
          {(p) => <select {...p} value={f.snapshots} onChange={set('snapshots')}><option value="false">Hide</option><option value="">Show</option><option value="true">Only these</option></select>}
        </Field>
      </form>
      <LoadError error={list.error} onRetry={list.reload} />
      <div class="card flush">
        <div class="table-wrap">
          <table class="table" aria-label="Virtual volumes" data-testid="vvol-table">
            <thead>
              <tr>
                <th scope="col">Name</th><th scope="col">Type</th><th scope="col" class="num">Size</th>
                <th scope="col" class="num hide-sm">Allocated</th><th scope="col" class="hide-sm">Policy</th>
                <th scope="col">Bound to</th><th scope="col" class="hide-sm">Container</th>
              </tr>
            </thead>
            <tbody>
              {(list.data || []).map((v) => (
                <tr key={v.id} data-testid="vvol-row" data-name={v.name}>
                  <th scope="row">
                    <Link href={`/volumes/${v.id}`} class="strong">{v.name}</Link>
                    {v.snapshot && <Badge tone="info">snapshot</Badge>}
                    {!v.snapshot && v.parentId && <Badge tone="violet">clone</Badge>}
                    {v.fullCopyProgress != null && <Badge tone="info">copying {percent(v.fullCopyProgress)}</Badge>}
                  </th>
                  <td>{v.type}</td>
                  <td class="num">{bytes(v.sizeBytes)}</td>
                  <td class="num hide-sm">{bytes(v.allocatedBytes)}</td>
                  <td class="hide-sm">{cat.profileName(v.profileId) || <span class="muted">none</span>}{v.compliant === false && <> <Badge tone="bad">not compliant</Badge></>}</td>
                  <td>{v.bindings.length ? v.bindings.map((b) => cat.hostName(b.hostId)).join(', ') : (v.exported ? <span class="muted">all hosts (config)</span> : <span class="muted">—</span>)}</td>
                  <td class="hide-sm">{cat.containerName(v.containerId)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        {list.data?.length === 0 && <Empty>{filtered ? 'No volume matches these filters.' : 'No virtual volumes yet.'}</Empty>}
      </div>
      <CreateVolume open={creating} onClose={() => setCreating(false)} cat={cat}
        onCreated={(v) => { setCreating(false); notify(`Volume ${v.name} created`); navigate(`/volumes/${v.id}`); }} />
    </>
  );
}

function SizeInput({ amount, unit, onAmount, onUnit, fieldProps }) {
  return (
    <div class="input-group">
      <input {...fieldProps} inputmode="decimal" value={amount} onInput={(e) => onAmount(e.target.value)} required />
      <select aria-label="Unit" value={unit} onChange={(e) => onUnit(e.target.value)}>
        {sizeUnits.map((u) => <option key={u} value={u}>{u}</option>)}
      </select>
    </div>
  );
}

function CreateVolume({ open, onClose, onCreated, cat }) {
  const blank = { container: '', name: '', type: 'data', amount: '10', unit: 'GiB', profileId: '', provisioning: '', lbaSize: '' };
  const [v, setV] = useState(blank);
  const set = (k) => (e) => setV({ ...v, [k]: e.target.value });
  const { busy, error, setError, run } = useSubmit(async () => {
    const sizeBytes = parseSize(v.amount, v.unit);
    if (sizeBytes === null || sizeBytes <= 0) throw localError('sizeBytes', 'Enter the size as a positive number, e.g. 10 GiB.');
    const body = {
      container: v.container || cat.containers[0]?.name,
      name: v.name.trim(),
      type: v.type,
      sizeBytes,
    };
    if (v.profileId) body.profileId = v.profileId;
    if (v.provisioning) body.provisioning = v.provisioning;
    if (v.lbaSize) body.lbaSize = Number(v.lbaSize);
    return onCreated(await api.createVvol(body)) ?? true;
  });
  useEffect(() => { if (open) { setV({ ...blank, container: cat.containers[0]?.name || '' }); setError(null); } }, [open]);
  useEffect(() => { if (open && !v.container && cat.containers.length) setV((x) => ({ ...x, container: cat.containers[0].name })); }, [cat.containers]);
  const fields = ['container', 'name', 'type', 'sizeBytes', 'profileId', 'provisioning', 'lbaSize'];
  return (
    <Dialog open={open} title="Create a virtual volume" onClose={onClose} testId="create-vvol"
      footer={<>
        <button type="button" onClick={onClose}>Cancel</button>
        <button type="submit" form="create-vvol-form" class="primary" disabled={busy}>{busy ? 'Creating…' : 'Create'}</button>
      </>}>
      <form id="create-vvol-form" class="form-grid" onSubmit={(e) => { e.preventDefault(); run(); }}>
        <Field label="Name" name="name" error={error} class="span-2">
          {(p) => <input {...p} value={v.name} onInput={set('name')} required maxLength={200} autofocus placeholder="e.g. web-01-disk1" />}
        </Field>
        <Field label="Storage container" name="container" error={error}>
          {(p) => <select {...p} value={v.container} onChange={set('container')}>{cat.containers.map((c) => <option key={c.id} value={c.name}>{c.name}</option>)}</select>}
        </Field>
        <Field label="Type" name="type" error={error}>
          {(p) => <select {...p} value={v.type} onChange={set('type')}>{TYPES.map((t) => <option key={t} value={t}>{t}</option>)}</select>}
        </Field>
        <Field label="Size" name="sizeBytes" error={error} hint="Thin volumes use space only as they are written.">
          {(p) => <SizeInput fieldProps={p} amount={v.amount} unit={v.unit} onAmount={(a) => setV({ ...v, amount: a })} onUnit={(u) => setV({ ...v, unit: u })} />}
        </Field>
        <Field label="Storage policy" name="profileId" error={error}>
          {(p) => <select {...p} value={v.profileId} onChange={set('profileId')}><option value="">None</option>{cat.profiles.map((x) => <option key={x.id} value={x.id}>{x.name}</option>)}</select>}
        </Field>
        <Field label="Provisioning" name="provisioning" error={error}>
          {(p) => <select {...p} value={v.provisioning} onChange={set('provisioning')}><option value="">The policy's (else thin)</option><option value="thin">thin</option><option value="thick">thick</option></select>}
        </Field>
        <Field label="Block size" name="lbaSize" error={error}>
          {(p) => <select {...p} value={v.lbaSize} onChange={set('lbaSize')}><option value="">The policy's (else 512)</option><option value="512">512 bytes</option><option value="4096">4096 bytes</option></select>}
        </Field>
        <div class="span-2"><FormError error={error} fields={fields} /></div>
      </form>
    </Dialog>
  );
}

// ---- one volume ------------------------------------------------------------------------------

export function VolumeDetail({ id, session }) {
  const cat = useCatalog();
  const vol = usePoll(() => api.vvol(id), [id], 5000);
  const v = vol.data;
  const family = usePoll(() => (v ? api.vvols({ container: v.containerId }) : Promise.resolve(null)), [v?.containerId, id], 10000);
  const compliance = usePoll(() => (v?.profileId ? api.compliance(id) : Promise.resolve(null)), [id, v?.profileId, v?.compliant], 0);
  const [dialog, setDialog] = useState(null);
  useEffect(() => { document.title = `${v?.name || 'Volume'} · vvolgate`; }, [v?.name]);
  const reload = () => { vol.reload(); family.reload(); cat.reloadHosts(); };
  const close = () => setDialog(null);

  if (vol.error && !v) {
    return (<><PageHeader title="Virtual volume" /><LoadError error={vol.error} onRetry={vol.reload} /><p><Link href="/volumes">Back to the volumes</Link></p></>);
  }
  if (!v) return <div class="loading" aria-busy="true">Loading…</div>;
  const change = can('change', session);
  const snapshots = (family.data || []).filter((x) => x.snapshot && x.parentId === v.id);
  const bound = v.bindings.length > 0;

  return (
    <>
      <nav class="crumbs" aria-label="Breadcrumb"><Link href="/volumes">Virtual volumes</Link> <span aria-hidden="true">›</span> <span>{v.name}</span></nav>
      <PageHeader title={<>{v.name} {v.snapshot ? <Badge tone="info">snapshot</Badge> : v.parentId ? <Badge tone="violet">clone</Badge> : null}</>}
        subtitle={`${v.type} volume · ${bytes(v.sizeBytes)} · ${cat.containerName(v.containerId)}`} />
      {change && (
        <div class="toolbar" role="toolbar" aria-label="Volume actions">
          {!v.snapshot && <button type="button" onClick={() => setDialog('snapshot')}>Snapshot</button>}
          <button type="button" onClick={() => setDialog('fast-clone')}>Fast clone</button>
          <button type="button" onClick={() => setDialog('full-clone')}>Full clone</button>
          {!v.snapshot && <button type="button" onClick={() => setDialog('resize')}>Resize</button>}
          {!v.snapshot && <button type="button" onClick={() => setDialog('bind')}>Bind to host</button>}
          {!v.snapshot && <button type="button" onClick={() => setDialog('profile')}>Change policy</button>}
          {!v.snapshot && <button type="button" disabled={!snapshots.length} title={snapshots.length ? undefined : 'The volume has no snapshots'} onClick={() => setDialog('revert')}>Revert…</button>}
          <span class="toolbar-spacer" />
          <button type="button" class="danger-outline" onClick={() => setDialog('delete')}
            title={bound ? 'Unbind it from every host first' : undefined}>Delete</button>
        </div>
      )}
      <LoadError error={vol.error} />
      {v.fullCopyProgress != null && (
        <div class="card"><h2>Full copy in progress</h2><Progress value={v.fullCopyProgress} label="Copied" /></div>
      )}
      <div class="grid-2">
        <section class="card" aria-labelledby="props-title">
          <h2 id="props-title">Properties</h2>
          <dl class="props">
            <dt>ID</dt><dd class="mono">{v.id}</dd>
            <dt>Container</dt><dd>{cat.containerName(v.containerId)}</dd>
            <dt>Size</dt><dd>{bytes(v.sizeBytes)}</dd>
            <dt>Allocated</dt><dd>{bytes(v.allocatedBytes)} <span class="muted">({percent(v.allocatedBytes / Math.max(1, v.sizeBytes))})</span></dd>
            <dt>Provisioning</dt><dd>{v.provisioning}</dd>
            <dt>Block size</dt><dd>{v.lbaSize} bytes</dd>
            <dt>Policy</dt>
            <dd>
              {cat.profileName(v.profileId) || <span class="muted">none</span>}{' '}
              {v.compliant === true && <Badge tone="good">compliant</Badge>}
              {v.compliant === false && <Badge tone="bad">not compliant</Badge>}
              {compliance.data?.problems?.length > 0 && <ul class="problems">{compliance.data.problems.map((p) => <li key={p}>{p}</li>)}</ul>}
            </dd>
            <dt>NGUID</dt><dd class="mono">{v.nguid}</dd>
            {v.parentId && <><dt>{v.snapshot ? 'Snapshot of' : 'Cloned from'}</dt><dd><Link href={`/volumes/${v.parentId}`}>{(family.data || []).find((x) => x.id === v.parentId)?.name || shortId(v.parentId)}</Link></dd></>}
            {v.exported && <><dt>Exported</dt><dd>to every host, by the configuration file</dd></>}
          </dl>
          {Object.keys(v.metadata || {}).length > 0 && (
            <>
              <h3>Metadata</h3>
              <dl class="props">{Object.entries(v.metadata).map(([k, val]) => <><dt class="mono">{k}</dt><dd class="mono">{val}</dd></>)}</dl>
            </>
          )}
        </section>
        <section class="card" aria-labelledby="tree-title">
          <h2 id="tree-title">Snapshots and clones</h2>
          {family.data ? <FamilyTree volume={v} all={family.data} /> : <div class="loading" aria-busy="true">Loading…</div>}
        </section>
      </div>
      <section class="card" aria-labelledby="bind-title">
        <div class="card-head">
          <h2 id="bind-title">Bindings</h2>
          {change && v.bindings.length > 1 && <button type="button" class="danger-outline small" onClick={() => setDialog('unbind-all')}>Unbind from all hosts</button>}
        </div>
        {v.bindings.length === 0 ? <Empty>Not bound to any host{v.exported ? ' (the configuration file exports it to every host)' : ''}.</Empty> : (
          <div class="table-wrap">
            <table class="table stack" data-testid="bindings">
              <thead><tr><th scope="col">Host</th><th scope="col">Protocol endpoint</th><th scope="col" class="hide-sm">Subsystem</th><th scope="col" class="num">NSID</th><th scope="col" class="num hide-sm">ANA group</th>{change && <th scope="col"><span class="sr-only">Actions</span></th>}</tr></thead>
              <tbody>
                {v.bindings.map((b) => (
                  <tr key={b.hostId} data-testid="binding-row">
                    <th scope="row"><Link href="/hosts">{cat.hostName(b.hostId)}</Link><div class="muted mono small">{b.hostNqn}</div></th>
                    <td class="mono">{shortId(b.protocolEndpointId)}</td>
                    <td class="mono small hide-sm">{b.subsystemNqn}</td>
                    <td class="num">{b.nsid}</td>
                    <td class="num hide-sm">{b.anaGroupId}</td>
                    {change && <td class="actions"><button type="button" class="small" onClick={() => setDialog({ unbind: b })}>Unbind</button></td>}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>

      <NameDialog open={dialog === 'snapshot'} onClose={close} title={`Snapshot ${v.name}`} submitLabel="Take snapshot"
        defaultName={`${v.name}-snap-${stamp()}`} hint="Point in time and read-only; taken at once, whatever the size."
        call={(name) => api.snapshot(v.id, name)} onDone={(s) => { close(); notify(`Snapshot ${s.name} taken`); reload(); }} />
      <NameDialog open={dialog === 'fast-clone'} onClose={close} title={`Fast clone of ${v.name}`} submitLabel="Create linked clone"
        defaultName={`${v.name}-clone`} profiles={cat.profiles} hint={v.snapshot ? 'A writable volume that shares this snapshot\u2019s data until written.' : 'Takes a snapshot of the volume and a linked clone of it, at once.'}
        call={(name, profileId) => api.fastClone(v.id, { name, ...(profileId ? { profileId } : {}) })}
        onDone={(c) => { close(); notify(`Clone ${c.name} created`); reload(); }} />
      <NameDialog open={dialog === 'full-clone'} onClose={close} title={`Full clone of ${v.name}`} submitLabel="Start full copy"
        defaultName={`${v.name}-copy`} profiles={cat.profiles} hint="An independent copy, made in the background; usable at once."
        call={(name, profileId) => api.fullClone(v.id, { name, ...(profileId ? { profileId } : {}) })}
        onDone={(task) => { close(); trackTask(task, 'Full clone', reload); reload(); }} />
      <ResizeDialog open={dialog === 'resize'} onClose={close} volume={v} onDone={(r) => { close(); notify(`${r.name} is now ${bytes(r.sizeBytes)}`); reload(); }} />
      <BindDialog open={dialog === 'bind'} onClose={close} volume={v} hosts={cat.hosts} onDone={(b) => { close(); notify(`Bound to ${cat.hostName(b.hostId)} as namespace ${b.nsid}`); reload(); }} />
      <ProfileDialog open={dialog === 'profile'} onClose={close} volume={v} profiles={cat.profiles} onDone={() => { close(); notify('Policy changed'); reload(); compliance.reload(); }} />
      <RevertDialog open={dialog === 'revert'} onClose={close} volume={v} snapshots={snapshots} onDone={(s) => { close(); notify(`${v.name} reverted to ${s}`); reload(); }} />
      <ConfirmDialog open={dialog === 'delete'} onClose={close} title={`Delete ${v.name}?`} confirmLabel="Delete volume"
        onConfirm={async () => {
          const task = await api.deleteVvol(v.id);
          trackTask(task, `Delete ${v.name}`);
          navigate('/volumes');
          return true;
        }}>
        <p>The {v.snapshot ? 'snapshot' : 'volume'} <strong>{v.name}</strong> and its data are deleted. This cannot be undone.</p>
        {bound && <p class="warn-text">It is bound to {v.bindings.length} host{v.bindings.length > 1 ? 's' : ''}: the appliance refuses to delete a bound volume; unbind it first.</p>}
      </ConfirmDialog>
      <ConfirmDialog open={!!dialog?.unbind} onClose={close} title="Unbind the volume?" confirmLabel="Unbind"
        onConfirm={async () => { await api.unbind(v.id, dialog.unbind.hostId); notify(`Unbound from ${cat.hostName(dialog.unbind.hostId)}`); reload(); return true; }}>
        <p><strong>{cat.hostName(dialog?.unbind?.hostId)}</strong> loses access to <strong>{v.name}</strong>: its I/O to the namespace fails from now on.</p>
      </ConfirmDialog>
      <ConfirmDialog open={dialog === 'unbind-all'} onClose={close} title="Unbind from every host?" confirmLabel="Unbind all"
        onConfirm={async () => { await api.unbindAll(v.id); notify('Unbound from every host'); reload(); return true; }}>
        <p>All {v.bindings.length} hosts lose access to <strong>{v.name}</strong>.</p>
      </ConfirmDialog>
    </>
  );
}

function stamp() {
  const d = new Date();
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

function NameDialog({ open, onClose, title, submitLabel, defaultName, hint, profiles, call, onDone }) {
  const [name, setName] = useState('');
  const [profileId, setProfileId] = useState('');
  const { busy, error, setError, run } = useSubmit(async () => onDone(await call(name.trim(), profileId)) ?? true);
  useEffect(() => { if (open) { setName(defaultName); setProfileId(''); setError(null); } }, [open]);
  return (
    <Dialog open={open} title={title} onClose={onClose}
      footer={<><button type="button" onClick={onClose}>Cancel</button><button type="submit" form="name-form" class="primary" disabled={busy}>{busy ? 'Working…' : submitLabel}</button></>}>
      <form id="name-form" onSubmit={(e) => { e.preventDefault(); run(); }}>
        {hint && <p class="muted">{hint}</p>}
        <Field label="Name" name="name" error={error}>
          {(p) => <input {...p} value={name} onInput={(e) => setName(e.target.value)} required maxLength={200} autofocus />}
        </Field>
        {profiles && (
          <Field label="Storage policy of the clone" name="profileId" error={error}>
            {(p) => <select {...p} value={profileId} onChange={(e) => setProfileId(e.target.value)}><option value="">As the source</option>{profiles.map((x) => <option key={x.id} value={x.id}>{x.name}</option>)}</select>}
          </Field>
        )}
        <FormError error={error} fields={['name', 'profileId']} />
      </form>
    </Dialog>
  );
}

function ResizeDialog({ open, onClose, volume, onDone }) {
  const [amount, setAmount] = useState('');
  const [unit, setUnit] = useState('GiB');
  const { busy, error, setError, run } = useSubmit(async () => {
    const sizeBytes = parseSize(amount, unit);
    if (sizeBytes === null || sizeBytes <= 0) throw localError('sizeBytes', 'Enter the size as a positive number, e.g. 20 GiB.');
    return onDone(await api.resize(volume.id, sizeBytes)) ?? true;
  });
  useEffect(() => { if (open) { const [a, u] = splitSize(volume.sizeBytes); setAmount(a); setUnit(u); setError(null); } }, [open]);
  return (
    <Dialog open={open} title={`Resize ${volume.name}`} onClose={onClose}
      footer={<><button type="button" onClick={onClose}>Cancel</button><button type="submit" form="resize-form" class="primary" disabled={busy}>{busy ? 'Resizing…' : 'Resize'}</button></>}>
      <form id="resize-form" onSubmit={(e) => { e.preventDefault(); run(); }}>
        <p class="muted">Now {bytes(volume.sizeBytes)}. Volumes grow online (bound hosts are told); they never shrink.</p>
        <Field label="New size" name="sizeBytes" error={error}>
          {(p) => <SizeInput fieldProps={{ ...p, autofocus: true }} amount={amount} unit={unit} onAmount={setAmount} onUnit={setUnit} />}
        </Field>
        <FormError error={error} fields={['sizeBytes']} />
      </form>
    </Dialog>
  );
}

function BindDialog({ open, onClose, volume, hosts, onDone }) {
  const [hostId, setHostId] = useState('');
  const { busy, error, setError, run } = useSubmit(async () => onDone(await api.bind(volume.id, hostId)) ?? true);
  const free = hosts.filter((h) => !volume.bindings.some((b) => b.hostId === h.id));
  useEffect(() => { if (open) { setHostId(free[0]?.id || ''); setError(null); } }, [open]);
  return (
    <Dialog open={open} title={`Bind ${volume.name} to a host`} onClose={onClose}
      footer={<><button type="button" onClick={onClose}>Cancel</button><button type="submit" form="bind-form" class="primary" disabled={busy || !hostId}>{busy ? 'Binding…' : 'Bind'}</button></>}>
      <form id="bind-form" onSubmit={(e) => { e.preventDefault(); run(); }}>
        {free.length === 0 ? <p>Every registered host already has it. <Link href="/hosts">Register a host</Link> first.</p> : (
          <Field label="Host" name="hostId" error={error} hint="The namespace becomes visible to the host's controllers through the container's protocol endpoint.">
            {(p) => <select {...p} value={hostId} onChange={(e) => setHostId(e.target.value)}>{free.map((h) => <option key={h.id} value={h.id}>{h.name} — {h.nqn}</option>)}</select>}
          </Field>
        )}
        <FormError error={error} fields={['hostId']} />
      </form>
    </Dialog>
  );
}

function ProfileDialog({ open, onClose, volume, profiles, onDone }) {
  const [profileId, setProfileId] = useState('');
  const { busy, error, setError, run } = useSubmit(async () => onDone(await api.changeProfile(volume.id, profileId || null)) ?? true);
  useEffect(() => { if (open) { setProfileId(volume.profileId || ''); setError(null); } }, [open]);
  return (
    <Dialog open={open} title={`Change the policy of ${volume.name}`} onClose={onClose}
      footer={<><button type="button" onClick={onClose}>Cancel</button><button type="submit" form="profile-form" class="primary" disabled={busy}>{busy ? 'Applying…' : 'Apply policy'}</button></>}>
      <form id="profile-form" onSubmit={(e) => { e.preventDefault(); run(); }}>
        <Field label="Storage policy" name="profileId" error={error} hint="QoS and snapshot retention apply at once; the volume's compliance is checked against the rest.">
          {(p) => <select {...p} value={profileId} onChange={(e) => setProfileId(e.target.value)}><option value="">None</option>{profiles.map((x) => <option key={x.id} value={x.id}>{x.name}</option>)}</select>}
        </Field>
        <FormError error={error} fields={['profileId']} />
      </form>
    </Dialog>
  );
}

function RevertDialog({ open, onClose, volume, snapshots, onDone }) {
  const [snapshotId, setSnapshotId] = useState('');
  const { busy, error, setError, run } = useSubmit(async () => {
    await api.revert(volume.id, snapshotId);
    return onDone(snapshots.find((s) => s.id === snapshotId)?.name) ?? true;
  });
  useEffect(() => { if (open) { setSnapshotId(snapshots[snapshots.length - 1]?.id || ''); setError(null); } }, [open]);
  return (
    <Dialog open={open} title={`Revert ${volume.name}`} onClose={onClose}
      footer={<><button type="button" onClick={onClose}>Cancel</button><button type="submit" form="revert-form" class="danger" disabled={busy || !snapshotId}>{busy ? 'Reverting…' : 'Revert volume'}</button></>}>
      <form id="revert-form" onSubmit={(e) => { e.preventDefault(); run(); }}>
        <p class="warn-text">Everything written to <strong>{volume.name}</strong> since the snapshot is lost.</p>
        <Field label="Snapshot" name="snapshotId" error={error}>
          {(p) => <select {...p} value={snapshotId} onChange={(e) => setSnapshotId(e.target.value)}>{snapshots.map((s) => <option key={s.id} value={s.id}>{s.name}</option>)}</select>}
        </Field>
        <FormError error={error} fields={['snapshotId']} />
      </form>
    </Dialog>
  );
}

// Drawn, not taken from a font: the fonts of a server-room browser need not have these symbols.
const svg = (d) => (
  <svg viewBox="0 0 16 16" width="14" height="14" fill="none" stroke="currentColor" stroke-width="1.6" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true">{d}</svg>
);
const ICON_VOLUME = svg(<><ellipse cx="8" cy="4" rx="5.5" ry="2" /><path d="M2.5 4v8c0 1.1 2.5 2 5.5 2s5.5-.9 5.5-2V4" /></>);
const ICON_SNAPSHOT = svg(<><path d="M2 5.5h2.5L6 3.5h4l1.5 2H14v7H2z" /><circle cx="8" cy="9" r="2.2" /></>);
const ICON_CLONE = svg(<><circle cx="4.5" cy="3.5" r="1.6" /><circle cx="4.5" cy="12.5" r="1.6" /><circle cx="11.5" cy="5.5" r="1.6" /><path d="M4.5 5.1v5.8M11.5 7.1c0 2.4-3 2.6-6.2 4.2" /></>);

/** The volume's family tree: it, its snapshots, the clones of those, from its oldest ancestor down. */
function FamilyTree({ volume, all }) {
  const tree = familyTree(volume, all);
  if (tree.children.length === 0) return <Empty>No snapshots or clones yet.</Empty>;
  const icon = { volume: ICON_VOLUME, snapshot: ICON_SNAPSHOT, clone: ICON_CLONE };
  const render = (node) => {
    const v = node.volume;
    return (
      <li key={v.id} data-testid="tree-node" data-name={v.name} data-kind={node.kind}>
        <div class={`tree-item${v.id === volume.id ? ' current' : ''}`}>
          <span class={`tree-icon ${node.kind}`} aria-hidden="true">{icon[node.kind]}</span>
          {v.id === volume.id ? <strong aria-current="true">{v.name}</strong> : <Link href={`/volumes/${v.id}`}>{v.name}</Link>}
          <span class="muted small">{node.kind} · {bytes(v.allocatedBytes)}</span>
          {v.bindings?.length > 0 && <Badge tone="good">bound</Badge>}
        </div>
        {node.children.length > 0 && <ul>{node.children.map(render)}</ul>}
      </li>
    );
  };
  return <ul class="tree" aria-label="Snapshot and clone tree">{render(tree)}</ul>;
}

export { useCatalog, StateBadge };
