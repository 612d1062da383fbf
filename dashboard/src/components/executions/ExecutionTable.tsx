import { Link } from "react-router-dom";
import type { ExecutionSummary } from "../../api/queries/executions";
import { durationBetween, formatDuration, formatRelative, shortId } from "../../lib/format";
import { StatusBadge } from "../ui/StatusBadge";
import { Table, Td, Th, Tr } from "../ui/Table";

export function ExecutionTable({
  executions,
  workflowNames,
}: {
  executions: ExecutionSummary[];
  workflowNames?: Record<string, string>;
}) {
  return (
    <Table aria-label="Executions">
      <thead>
        <tr>
          <Th>Execution</Th>
          {workflowNames && <Th>Workflow</Th>}
          <Th>Status</Th>
          <Th>Trigger</Th>
          <Th>Started</Th>
          <Th>Duration</Th>
        </tr>
      </thead>
      <tbody className="divide-y divide-slate-100 dark:divide-slate-800">
        {executions.map((e) => (
          <Tr key={e.id}>
            <Td>
              <Link to={`/executions/${e.id}`} className="font-mono text-xs font-medium text-teal-700 hover:underline dark:text-teal-400">
                {shortId(e.id)}
              </Link>
              <span className="ml-2 text-xs text-slate-400">v{e.version}</span>
            </Td>
            {workflowNames && (
              <Td className="max-w-[16rem] truncate">
                <Link to={`/workflows/${e.workflow_id}`} className="hover:underline">
                  {workflowNames[e.workflow_id] ?? shortId(e.workflow_id)}
                </Link>
              </Td>
            )}
            <Td>
              <StatusBadge status={e.status} />
              {e.error_message && (
                <p className="mt-0.5 max-w-xs truncate text-xs text-red-600 dark:text-red-400" title={e.error_message}>
                  {e.error_message}
                </p>
              )}
            </Td>
            <Td className="text-xs">
              {e.trigger_type}
              {e.execution_mode === "express" && <span className="ml-1 text-slate-500" title="express run: no Temporal history">· express</span>}
            </Td>
            <Td title={e.started_at ?? e.created_at}>{formatRelative(e.started_at ?? e.created_at)}</Td>
            <Td>{formatDuration(durationBetween(e.started_at, e.completed_at))}</Td>
          </Tr>
        ))}
      </tbody>
    </Table>
  );
}
