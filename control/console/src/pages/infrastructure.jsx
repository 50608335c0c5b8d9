import { useEffect } from 'preact/hooks';
import { api } from '../api.js';
import { usePoll, PageHeader, LoadError, Empty, StateBadge, Progress } from '../components.jsx';
import { bytes, shortId } from '../format.js';

function useContainerNames() {
  const containers = usePoll(() => api.containers(), [], 30000);
  return (id) => containers.data?.find((c) => c.id === id)?.name || shortId(id);
}

export function Endpoints() {
  useEffect(() => { document.title = 'Protocol endpoints · vvolgate'; }, []);
  const eps = usePoll(() => api.endpoints(), [], 10000);
  const cname = useContainerNames();
  return (
    <>
      <PageHeader title="Protocol endpoints" subtitle="The in-band I/O paths: an ANA group on a container's subsystem, and where it listens" />
      <LoadError error={eps.error} onRetry={eps.reload} />
      <div class="card flush">
        <div class="table-wrap">
          <table class="table stack" aria-label="Protocol endpoints" data-testid="pe-table">
            <thead><tr><th scope="col">Endpoint</th><th scope="col">ANA state</th><th scope="col">Listens on</th><th scope="col" class="num">Bound</th><th scope="col" class="hide-sm">Container</th></tr></thead>
            <tbody>
              {(eps.data || []).map((e) => (
                <tr key={e.id} data-testid="pe-row">
                  <th scope="row"><span class="mono">{e.subsystemNqn}</span><div class="muted small">ANA group {e.anaGroupId} · {e.transport.toUpperCase()} · <span class="mono">{shortId(e.id)}</span></div></th>
                  <td><StateBadge state={e.anaState} /></td>
                  <td class="mono small">{e.addresses.map((a) => `${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}`).join(', ')}</td>
                  <td class="num">{e.boundVvols}</td>
                  <td class="hide-sm">{cname(e.containerId)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        {eps.data?.length === 0 && <Empty>No protocol endpoints.</Empty>}
      </div>
    </>
  );
}

export function Devices() {
  useEffect(() => { document.title = 'Devices · vvolgate'; }, []);
  const devices = usePoll(() => api.devices(), [], 5000);
  const cname = useContainerNames();
  return (
    <>
      <PageHeader title="Devices" subtitle="The physical devices under the storage containers, and their health" />
      <LoadError error={devices.error} onRetry={devices.reload} />
      <div class="card flush">
        <div class="table-wrap">
          <table class="table stack" aria-label="Devices" data-testid="device-table">
            <thead><tr><th scope="col">Device</th><th scope="col">Health</th><th scope="col">Container</th><th scope="col">Role</th><th scope="col" class="num">Size</th></tr></thead>
            <tbody>
              {(devices.data || []).map((d) => (
                <tr key={d.id} data-testid="device-row">
                  <th scope="row" class="mono break">{d.path}</th>
                  <td>
                    <StateBadge state={d.state} />
                    {d.resyncProgress != null && <Progress value={d.resyncProgress} label={`Resync of ${d.path}`} />}
                  </td>
                  <td>{cname(d.containerId)}</td>
                  <td>{d.role === 'single' ? 'single' : d.role === 'leg0' ? 'mirror leg 0' : 'mirror leg 1'}</td>
                  <td class="num">{d.sizeBytes != null ? bytes(d.sizeBytes) : '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        {devices.data?.length === 0 && <Empty>No devices.</Empty>}
      </div>
    </>
  );
}
