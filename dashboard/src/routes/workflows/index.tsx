import { useQuery } from "@tanstack/react-query";
import { Link, useSearchParams } from "react-router-dom";
import { useState } from "react";
import { can } from "../../api/queries/auth";
import { workflowListQuery, type WorkflowStatus } from "../../api/queries/workflows";
import { useAuth } from "../../auth/AuthProvider";
import { buttonClasses } from "../../components/ui/Button";
import { Card } from "../../components/ui/Card";
import { PageHeader } from "../../components/ui/Card";
import { Icon } from "../../components/ui/Icon";
import { Input, Select } from "../../components/ui/Input";
import { Pagination } from "../../components/ui/Pagination";
import { Loading } from "../../components/ui/Spinner";
import { EmptyState, ErrorState } from "../../components/ui/States";
import { Badge } from "../../components/ui/StatusBadge";
import { Table, Td, Th, Tr } from "../../components/ui/Table";
import { readSteps } from "../../lib/definition";
import { formatRelative } from "../../lib/format";
import { useDebounced } from "../../lib/useDebounced";

const LIMIT = 20;

const STATUS_TONE: Record<string, string> = {
  active: "text-emerald-700 ring-emerald-200 dark:text-emerald-300 dark:ring-emerald-800",
  inactive: "text-slate-500",
  archived: "text-amber-700 ring-amber-200 dark:text-amber-300 dark:ring-amber-800",
};

export default function WorkflowsPage() {
  const { user } = useAuth();
  const [params, setParams] = useSearchParams();
  const [search, setSearch] = useState(params.get("q") ?? "");
  const q = useDebounced(search.trim(), 300);
  const status = (params.get("status") || undefined) as WorkflowStatus | undefined;
  const offset = Number(params.get("offset") ?? 0) || 0;
  const list = useQuery(workflowListQuery({ q: q || undefined, status, limit: LIMIT, offset }));

  function update(next: Record<string, string | undefined>) {
    const p = new URLSearchParams(params);
    for (const [k, v] of Object.entries(next)) {
      if (v) p.set(k, v);
      else p.delete(k);
    }
    setParams(p, { replace: true });
  }

  const editable = can(user, "editWorkflows");
  return (
    <>
      <PageHeader
        title="Workflows"
        description="JSON-defined DAGs of steps, run durably on Temporal."
        actions={
          editable && (
            <Link to="/workflows/new" className={buttonClasses("primary")}>
              <Icon name="plus" /> New workflow
            </Link>
          )
        }
      />
      <Card>
        <div className="flex flex-wrap items-center gap-3 border-b border-slate-200 p-3 dark:border-slate-800">
          <div className="relative min-w-[16rem] flex-1">
            <span className="pointer-events-none absolute inset-y-0 left-2.5 flex items-center text-slate-400">
              <Icon name="search" />
            </span>
            <Input
              type="search"
              aria-label="Search workflows"
              placeholder="Search by name or description…"
              className="pl-8"
              value={search}
              onChange={(e) => {
                setSearch(e.target.value);
                update({ q: e.target.value.trim() || undefined, offset: undefined });
              }}
            />
          </div>
          <Select
            aria-label="Filter by status"
            className="w-40"
            value={status ?? ""}
            onChange={(e) => update({ status: e.target.value || undefined, offset: undefined })}
          >
            <option value="">All statuses</option>
            <option value="active">Active</option>
            <option value="inactive">Inactive</option>
            <option value="archived">Archived</option>
          </Select>
        </div>
        {list.isPending ? (
          <Loading />
        ) : list.isError ? (
          <ErrorState error={list.error} retry={() => void list.refetch()} className="m-4" />
        ) : list.data.data.length === 0 ? (
          q || status ? (
            <EmptyState title="No workflow matches" description="Try another search or status." />
          ) : (
            <EmptyState
              title="No workflows yet"
              description="A workflow is a JSON definition of steps and their dependencies."
              action={
                editable && (
                  <Link to="/workflows/new" className="text-sm font-medium text-teal-700 hover:underline dark:text-teal-400">
                    Create your first workflow →
                  </Link>
                )
              }
            />
          )
        ) : (
          <>
            <Table aria-label="Workflows">
              <thead>
                <tr>
                  <Th>Name</Th>
                  <Th>Status</Th>
                  <Th>Steps</Th>
                  <Th>Version</Th>
                  <Th>Updated</Th>
                  <Th className="text-right">
                    <span className="sr-only">Actions</span>
                  </Th>
                </tr>
              </thead>
              <tbody className="divide-y divide-slate-100 dark:divide-slate-800">
                {list.data.data.map((wf) => (
                  <Tr key={wf.id}>
                    <Td className="max-w-md whitespace-normal">
                      <Link to={`/workflows/${wf.id}`} className="font-medium text-slate-900 hover:text-teal-700 hover:underline dark:text-white dark:hover:text-teal-400">
                        {wf.name}
                      </Link>
                      {wf.description && <p className="truncate text-xs text-slate-500">{wf.description}</p>}
                    </Td>
                    <Td>
                      <Badge className={STATUS_TONE[wf.status]}>{wf.status}</Badge>
                      {wf.shared && <Badge className="ml-1">shared</Badge>}
                    </Td>
                    <Td>{readSteps(wf.definition).length}</Td>
                    <Td>v{wf.version}</Td>
                    <Td title={wf.updated_at}>{formatRelative(wf.updated_at)}</Td>
                    <Td className="text-right">
                      <Link
                        to={`/workflows/${wf.id}/execute`}
                        className="inline-flex items-center gap-1 rounded-md px-2 py-1 text-xs font-medium text-teal-700 hover:bg-teal-50 dark:text-teal-400 dark:hover:bg-teal-950"
                      >
                        <Icon name="play" className="h-3 w-3" /> Run
                      </Link>
                    </Td>
                  </Tr>
                ))}
              </tbody>
            </Table>
            <Pagination offset={list.data.offset} limit={LIMIT} count={list.data.count} onChange={(o) => update({ offset: o ? String(o) : undefined })} />
          </>
        )}
      </Card>
    </>
  );
}
