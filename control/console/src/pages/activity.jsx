import { useEffect, useRef, useState } from 'preact/hooks';
import { api, can } from '../api.js';
import { navigate, useLocation } from '../router.js';
import { usePoll, PageHeader, LoadError, Empty, Badge, StateBadge, notify } from '../components.jsx';
import { dateTime, shortId } from '../format.js';

const TABS = [['events', 'Events'], ['alarms', 'Alarms'], ['audit', 'Audit log']];

export function Activity({ session }) {
  const { params } = useLocation();
  const tab = TABS.some(([k]) => k === params.get('tab')) ? params.get('tab') : 'events';
  useEffect(() => { document.title = `${TABS.find(([k]) => k === tab)[1]} · vvolgate`; }, [tab]);
  const refs = useRef({});
  const onKey = (e) => {
    const i = TABS.findIndex(([k]) => k === tab);
    const next = e.key === 'ArrowRight' ? (i + 1) % TABS.length : e.key === 'ArrowLeft' ? (i + TABS.length - 1) % TABS.length : -1;
    if (next < 0) return;
    e.preventDefault();
    navigate(`/activity?tab=${TABS[next][0]}`, { replace: true });
    setTimeout(() => refs.current[TABS[next][0]]?.focus(), 0);
  };
  return (
    <>
      <PageHeader title="Events & alarms" subtitle="What happened, what needs attention, and who changed what" />
      <div class="tabs" role="tablist" aria-label="Activity" onKeyDown={onKey}>
        {TABS.map(([k, label]) => (
          <button key={k} type="button" role="tab" id={`tab-${k}`} aria-selected={tab === k} aria-controls="tab-panel"
            tabindex={tab === k ? 0 : -1} ref={(el) => { refs.current[k] = el; }}
            onClick={() => navigate(`/activity?tab=${k}`, { replace: true })}>{label}</button>
        ))}
      </div>
      <div id="tab-panel" role="tabpanel" aria-labelledby={`tab-${tab}`}>
        {tab === 'events' && <Events />}
        {tab === 'alarms' && <Alarms session={session} />}
        {tab === 'audit' && <Audit />}
      </div>
    </>
  );
}

/** Events come oldest first, after an id; the newest few hundred are kept, fetched incrementally. */
function Events() {
  const [events, setEvents] = useState([]);
  const [error, setError] = useState(null);
  const last = useRef(0);
  const [severity, setSeverity] = useState('');
  useEffect(() => {
    let stopped = false;
    let timer;
    const pull = async () => {
      try {
        for (let page = 0; page < 20 && !stopped; page++) {
          const batch = await api.events(last.current, 1000);
          if (batch.length) {
            last.current = batch[batch.length - 1].id;
            setEvents((old) => [...batch.slice().reverse(), ...old].slice(0, 500));
          }
          if (batch.length < 1000) break;
        }
        setError(null);
      } catch (e) { setError(e); }
      if (!stopped) timer = setTimeout(pull, 5000);
    };
    pull();
    return () => { stopped = true; clearTimeout(timer); };
  }, []);
  const shown = severity ? events.filter((e) => e.severity === severity) : events;
  return (
    <div class="card flush">
      <div class="card-head padded">
        <span class="muted small">{events.length} most recent events, newest first; updated every 5 s</span>
        <label class="inline-field">Severity{' '}
          <select value={severity} onChange={(e) => setSeverity(e.target.value)}>
            <option value="">All</option><option value="info">info</option><option value="warning">warning</option><option value="error">error</option><option value="critical">critical</option>
          </select>
        </label>
      </div>
      <LoadError error={error} />
      <div class="table-wrap">
        <table class="table stack" aria-label="Events" data-testid="event-table">
          <thead><tr><th scope="col">Event</th><th scope="col">Severity</th><th scope="col">Time</th></tr></thead>
          <tbody>
            {shown.map((e) => (
              <tr key={e.id}>
                <th scope="row">{e.message}<div class="muted small mono">{e.type}{e.objectId ? ` · ${shortId(e.objectId)}` : ''}</div></th>
                <td><StateBadge state={e.severity} /></td>
                <td class="nowrap">{dateTime(e.time)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {shown.length === 0 && <Empty>No events.</Empty>}
    </div>
  );
}

function Alarms({ session }) {
  const [onlyActive, setOnlyActive] = useState(true);
  const alarms = usePoll(() => api.alarms(onlyActive ? true : undefined), [onlyActive], 10000);
  const change = can('change', session);
  const ack = async (a) => {
    try { await api.acknowledge(a.id); notify('Alarm acknowledged'); alarms.reload(); } catch (e) { notify(e.message, 'bad'); }
  };
  return (
    <div class="card flush">
      <div class="card-head padded">
        <label class="inline-field"><input type="checkbox" checked={onlyActive} onChange={(e) => setOnlyActive(e.target.checked)} /> Active only</label>
      </div>
      <LoadError error={alarms.error} onRetry={alarms.reload} />
      <div class="table-wrap">
        <table class="table stack" aria-label="Alarms" data-testid="alarm-table">
          <thead><tr><th scope="col">Alarm</th><th scope="col">Severity</th><th scope="col">Raised</th><th scope="col">State</th>{change && <th scope="col"><span class="sr-only">Actions</span></th>}</tr></thead>
          <tbody>
            {(alarms.data || []).map((a) => (
              <tr key={a.id} class={a.active && !a.acknowledged ? 'attention' : ''}>
                <th scope="row">{a.message}<div class="muted small">{a.type.replace(/_/g, ' ')}{a.objectId ? ` · ${shortId(a.objectId)}` : ''}</div></th>
                <td><StateBadge state={a.severity} /></td>
                <td class="nowrap">{dateTime(a.raisedAt)}</td>
                <td><div class="badges">{a.active ? <Badge tone="bad">active</Badge> : <Badge>cleared {a.clearedAt ? dateTime(a.clearedAt) : ''}</Badge>}{a.acknowledged && <Badge tone="neutral">acknowledged</Badge>}</div></td>
                {change && <td class="actions">{!a.acknowledged && <button type="button" class="small" onClick={() => ack(a)}>Acknowledge</button>}</td>}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {alarms.data?.length === 0 && <Empty>{onlyActive ? 'No active alarms. All clear.' : 'No alarms.'}</Empty>}
    </div>
  );
}

/** An audit target is often a small JSON object ({"vvolId": "..."}): shown as "vvolId 3c91dad6". */
function target(t) {
  try {
    const o = JSON.parse(t);
    if (o && typeof o === 'object') return Object.entries(o).map(([k, v]) => `${k} ${typeof v === 'string' ? shortId(v) : JSON.stringify(v)}`).join(', ');
  } catch { /* plain text */ }
  return t;
}

function Audit() {
  const audit = usePoll(() => api.audit(500), [], 10000);
  return (
    <div class="card flush">
      <LoadError error={audit.error} onRetry={audit.reload} />
      <div class="table-wrap">
        <table class="table stack" aria-label="Audit log" data-testid="audit-table">
          <thead><tr><th scope="col">Operation</th><th scope="col">User</th><th scope="col">Time</th><th scope="col">Outcome</th></tr></thead>
          <tbody>
            {(audit.data || []).map((a, i) => (
              <tr key={`${a.time}-${i}`}>
                <th scope="row"><span class="mono">{a.operation}</span>{a.target && <div class="muted small break">{target(a.target)}</div>}{a.detail && <div class="muted small">{a.detail}</div>}</th>
                <td>{a.user}</td>
                <td class="nowrap">{dateTime(a.time)}</td>
                <td>{a.outcome === 'ok' ? <Badge tone="good">ok</Badge> : <Badge tone="bad">{a.outcome}</Badge>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {audit.data?.length === 0 && <Empty>No changes recorded yet.</Empty>}
    </div>
  );
}
