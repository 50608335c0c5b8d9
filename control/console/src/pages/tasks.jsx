import { useEffect } from 'preact/hooks';
import { api } from '../api.js';
import { usePoll, PageHeader, LoadError, Empty, StateBadge, Progress, Link } from '../components.jsx';
import { ago, dateTime, shortId } from '../format.js';

export function Tasks() {
  useEffect(() => { document.title = 'Tasks · vvolgate'; }, []);
  const tasks = usePoll(() => api.tasks(), [], 2000);
  return (
    <>
      <PageHeader title="Tasks" subtitle="Long operations (full clones, deletes) and their progress, newest first" />
      <LoadError error={tasks.error} onRetry={tasks.reload} />
      <div class="card flush">
        <div class="table-wrap">
          <table class="table stack" aria-label="Tasks" data-testid="task-table">
            <thead><tr><th scope="col">Operation</th><th scope="col">State</th><th scope="col" class="progress-col">Progress</th><th scope="col" class="hide-sm">Started</th><th scope="col" class="hide-sm">Finished</th></tr></thead>
            <tbody>
              {(tasks.data || []).map((t) => (
                <tr key={t.id} data-testid="task-row">
                  <th scope="row">
                    {t.operation}
                    <div class="muted small">
                      {t.objectId ? <Link href={`/volumes/${t.objectId}`}>{shortId(t.objectId)}</Link> : shortId(t.id)}
                      {t.result?.vvolId && t.result.vvolId !== t.objectId && <> → <Link href={`/volumes/${t.result.vvolId}`}>{t.result.name || shortId(t.result.vvolId)}</Link></>}
                    </div>
                    {t.error && <div class="field-error">{t.error.message}</div>}
                  </th>
                  <td><StateBadge state={t.state} /></td>
                  <td class="progress-col"><Progress value={t.state === 'success' ? 1 : t.progress} label={`${t.operation} progress`} /></td>
                  <td class="hide-sm" title={dateTime(t.startedAt)}>{ago(t.startedAt)}</td>
                  <td class="hide-sm">{t.finishedAt ? dateTime(t.finishedAt) : '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        {tasks.data?.length === 0 && <Empty>No tasks yet.</Empty>}
      </div>
    </>
  );
}
