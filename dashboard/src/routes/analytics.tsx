import { useQuery } from "@tanstack/react-query";
import { lazy, Suspense, useState } from "react";
import { analyticsSummaryQuery, timeRows, workflowRows } from "../api/queries/analytics";
import { Card, CardHeader, PageHeader } from "../components/ui/Card";
import { Select } from "../components/ui/Input";
import { Loading } from "../components/ui/Spinner";
import { EmptyState, ErrorState } from "../components/ui/States";
import { Table, Td, Th, Tr } from "../components/ui/Table";
import { formatDuration } from "../lib/format";
import { statusStyle } from "../lib/status";

const RunsOverTime = lazy(() => import("../components/analytics/Charts").then((m) => ({ default: m.RunsOverTime })));
const Durations = lazy(() => import("../components/analytics/Charts").then((m) => ({ default: m.Durations })));

export default function AnalyticsPage() {
  const [hours, setHours] = useState(24 * 7);
  const summary = useQuery(analyticsSummaryQuery(hours));

  return (
    <>
      <PageHeader
        title="Analytics"
        description="Runs over time, success rate and durations per workflow."
        actions={
          <Select aria-label="Period" value={hours} onChange={(e) => setHours(Number(e.target.value))} className="w-40">
            <option value={24}>Last 24 hours</option>
            <option value={24 * 7}>Last 7 days</option>
            <option value={24 * 30}>Last 30 days</option>
          </Select>
        }
      />
      {summary.isPending ? (
        <Loading />
      ) : summary.isError ? (
        <ErrorState error={summary.error} retry={() => void summary.refetch()} />
      ) : summary.data === null ? (
        <Card>
          <EmptyState
            icon="📊"
            title="Analytics are not available on this server yet"
            description="This server does not answer GET /api/v1/analytics/summary. The Dashboard page shows the last 24 hours from the executions list meanwhile."
          />
        </Card>
      ) : (
        (() => {
          const s = summary.data;
          const counts: Record<string, number> = { ...s.counts };
          const times = timeRows(s);
          const flows = workflowRows(s);
          const rate = s.success_rate ?? null;
          return (
            <div className="space-y-4">
              <div className="grid grid-cols-2 gap-4 md:grid-cols-5 lg:grid-cols-9">
                <Card className="col-span-2 p-4">
                  <p className="text-xs font-medium text-slate-500">Success rate</p>
                  <p className="mt-2 text-2xl font-semibold">{rate === null ? "—" : `${Math.round(rate * 100)}%`}</p>
                  <p className="mt-0.5 text-xs text-slate-400">
                    {s.total} runs · p50 {formatDuration(s.durations.p50 == null ? null : s.durations.p50 * 1000)} · p95{" "}
                    {formatDuration(s.durations.p95 == null ? null : s.durations.p95 * 1000)}</p>
                </Card>
                {Object.entries(counts).map(([status, n]) => (
                  <Card key={status} className="p-4">
                    <p className="flex items-center gap-1.5 text-xs font-medium text-slate-500">
                      <span className={`h-2 w-2 rounded-full ${statusStyle(status).solid}`} />
                      {status}
                    </p>
                    <p className="mt-2 text-2xl font-semibold tabular-nums">{n}</p>
                  </Card>
                ))}
              </div>
              <Card>
                <CardHeader title="Runs over time" />
                <div className="p-4">
                  {times.length ? (
                    <Suspense fallback={<Loading label="Loading chart…" />}>
                      <RunsOverTime rows={times} />
                    </Suspense>
                  ) : (
                    <EmptyState title="No runs in this period" />
                  )}
                </div>
              </Card>
              <div className="grid gap-4 xl:grid-cols-2">
                <Card>
                  <CardHeader title="Durations per workflow" description="p50 and p95 of completed runs" />
                  <div className="p-4">
                    {flows.some((f) => f.p50 !== null) ? (
                      <Suspense fallback={<Loading label="Loading chart…" />}>
                        <Durations rows={flows} />
                      </Suspense>
                    ) : (
                      <EmptyState title="No completed runs yet" />
                    )}
                  </div>
                </Card>
                <Card>
                  <CardHeader title="Per workflow" />
                  {flows.length ? (
                    <Table>
                      <thead>
                        <tr>
                          <Th>Workflow</Th>
                          <Th>Runs</Th>
                          <Th>Success</Th>
                          <Th>p50</Th>
                          <Th>p95</Th>
                        </tr>
                      </thead>
                      <tbody>
                        {flows.map((f) => (
                          <Tr key={f.id}>
                            <Td>{f.name}</Td>
                            <Td>{f.runs}</Td>
                            <Td>{f.successRate === null ? "—" : `${Math.round(f.successRate * 100)}%`}</Td>
                            <Td>{formatDuration(f.p50)}</Td>
                            <Td>{formatDuration(f.p95)}</Td>
                          </Tr>
                        ))}
                      </tbody>
                    </Table>
                  ) : (
                    <EmptyState title="No workflow ran in this period" />
                  )}
                </Card>
              </div>
              {s.slowest_steps.length > 0 && (
                <Card>
                  <CardHeader title="Slowest steps" description="Average and longest time per step, across workflows" />
                  <Table>
                    <thead>
                      <tr>
                        <Th>Workflow</Th>
                        <Th>Step</Th>
                        <Th>Runs</Th>
                        <Th>Average</Th>
                        <Th>Longest</Th>
                      </tr>
                    </thead>
                    <tbody>
                      {s.slowest_steps.map((st) => (
                        <Tr key={`${st.workflow_id}-${st.step_id}`}>
                          <Td>{st.workflow_name}</Td>
                          <Td className="font-mono text-xs">{st.step_id}</Td>
                          <Td>{st.runs}</Td>
                          <Td>{formatDuration(st.avg_seconds * 1000)}</Td>
                          <Td>{formatDuration(st.max_seconds * 1000)}</Td>
                        </Tr>
                      ))}
                    </tbody>
                  </Table>
                </Card>
              )}
            </div>
          );
        })()
      )}
    </>
  );
}
