import { useQuery } from "@tanstack/react-query";
import { useMemo, useState } from "react";
import { Link, useNavigate, useParams, useSearchParams } from "react-router-dom";
import { can } from "../../api/queries/auth";
import { executionListQuery } from "../../api/queries/executions";
import {
  useDeleteWorkflow,
  useUpdateWorkflow,
  workflowQuery,
  workflowVersionsQuery,
  type Workflow,
} from "../../api/queries/workflows";
import { errorMessage } from "../../api/problem";
import { useAuth } from "../../auth/AuthProvider";
import { ExecutionTable } from "../../components/executions/ExecutionTable";
import { SyncSource } from "../../components/integrations/SyncSource";
import { Button, buttonClasses } from "../../components/ui/Button";
import { Card, PageHeader } from "../../components/ui/Card";
import { Dialog } from "../../components/ui/Dialog";
import { Icon } from "../../components/ui/Icon";
import { Pagination } from "../../components/ui/Pagination";
import { Loading } from "../../components/ui/Spinner";
import { EmptyState, ErrorState } from "../../components/ui/States";
import { Badge } from "../../components/ui/StatusBadge";
import { Tabs } from "../../components/ui/Tabs";
import { useToast } from "../../components/ui/toast";
import { TriggersPanel } from "../../components/workflows/TriggersPanel";
import { VersionDiff } from "../../components/workflows/VersionDiff";
import { draftFrom, WorkflowEditor } from "../../components/workflows/WorkflowEditor";
import { formatRelative } from "../../lib/format";

type Tab = "editor" | "runs" | "versions" | "triggers";

function Runs({ workflowId }: { workflowId: string }) {
  const [offset, setOffset] = useState(0);
  const runs = useQuery(executionListQuery({ workflow_id: workflowId, limit: 20, offset }, 5000));
  if (runs.isPending) return <Loading />;
  if (runs.isError) return <ErrorState error={runs.error} retry={() => void runs.refetch()} />;
  if (!runs.data.data.length) return <EmptyState title="No runs yet" description="Run the workflow to see its executions here." />;
  return (
    <Card>
      <ExecutionTable executions={runs.data.data} />
      <Pagination offset={offset} limit={20} count={runs.data.count} onChange={setOffset} />
    </Card>
  );
}

function Versions({ workflow }: { workflow: Workflow }) {
  const versions = useQuery(workflowVersionsQuery(workflow.id));
  if (versions.isPending) return <Loading />;
  if (versions.isError) return <ErrorState error={versions.error} retry={() => void versions.refetch()} />;
  if (versions.data.length < 2) {
    return <EmptyState title={`Only version ${workflow.version}`} description="Each change of the definition makes a new version; compare any two here." />;
  }
  return <VersionDiff versions={versions.data} />;
}

function Editor({ workflow, readOnly }: { workflow: Workflow; readOnly: boolean }) {
  const update = useUpdateWorkflow(workflow.id);
  const toast = useToast();
  const initial = useMemo(() => draftFrom(workflow), [workflow]);
  return (
    <WorkflowEditor
      workflowId={workflow.id}
      initial={initial}
      saving={update.isPending}
      readOnly={readOnly}
      submitLabel="Save changes"
      onSave={async (body) => {
        const saved = await update.mutateAsync(body);
        toast(saved.version !== workflow.version ? `Saved as version ${saved.version}` : "Saved", "success");
      }}
    />
  );
}

export default function WorkflowPage() {
  const { id = "" } = useParams();
  const { user } = useAuth();
  const [params, setParams] = useSearchParams();
  const tab = (params.get("tab") as Tab) || "editor";
  const workflow = useQuery(workflowQuery(id));
  const del = useDeleteWorkflow();
  const navigate = useNavigate();
  const toast = useToast();
  const [confirmDelete, setConfirmDelete] = useState(false);

  if (workflow.isPending) return <Loading />;
  if (workflow.isError) return <ErrorState error={workflow.error} retry={() => void workflow.refetch()} />;
  const wf = workflow.data;
  const editable = can(user, "editWorkflows") && (user?.role === "admin" || wf.owner_id === user?.id);

  return (
    <>
      <PageHeader
        title={wf.name}
        description={
          <span className="flex flex-wrap items-center gap-2">
            <Badge>{wf.status}</Badge>
            <Badge>v{wf.version}</Badge>
            {wf.shared && <Badge>shared</Badge>}
            <span>updated {formatRelative(wf.updated_at)}</span>
            {wf.description && <span>· {wf.description}</span>}
          </span>
        }
        actions={
          <>
            <Link to={`/workflows/${wf.id}/execute`} className={buttonClasses("primary")}>
              <Icon name="play" className="h-3.5 w-3.5" /> Run
            </Link>
            {wf.temporal_ui_url && (
              <a href={wf.temporal_ui_url} target="_blank" rel="noreferrer" className={buttonClasses("secondary")}>
                Open in Temporal <Icon name="external" className="h-3.5 w-3.5" />
              </a>
            )}
            {editable && (
              <Button variant="danger" onClick={() => setConfirmDelete(true)}>
                Delete
              </Button>
            )}
          </>
        }
      />
      <SyncSource source={wf.source} />
      <div className="mb-4">
        <Tabs<Tab>
          label="Workflow"
          value={tab}
          onChange={(t) => setParams(t === "editor" ? {} : { tab: t }, { replace: true })}
          tabs={[
            { id: "editor", label: editable ? "Edit & graph" : "Definition & graph" },
            { id: "runs", label: "Runs" },
            { id: "versions", label: "Versions" },
            { id: "triggers", label: "Triggers" },
          ]}
        />
      </div>
      {tab === "editor" && <Editor workflow={wf} readOnly={!editable} />}
      {tab === "runs" && <Runs workflowId={wf.id} />}
      {tab === "versions" && <Versions workflow={wf} />}
      {tab === "triggers" && <TriggersPanel workflow={wf} />}

      <Dialog
        open={confirmDelete}
        onClose={() => setConfirmDelete(false)}
        title="Delete this workflow?"
        footer={
          <>
            <Button onClick={() => setConfirmDelete(false)}>Keep it</Button>
            <Button
              variant="danger"
              loading={del.isPending}
              onClick={async () => {
                try {
                  await del.mutateAsync(wf.id);
                  toast(`Deleted “${wf.name}”`, "success");
                  navigate("/workflows");
                } catch (e) {
                  toast(errorMessage(e), "error");
                }
              }}
            >
              Delete
            </Button>
          </>
        }
      >
        <p className="text-sm">
          “{wf.name}” and its versions will be removed. Runs already recorded keep their history in Temporal.
        </p>
      </Dialog>
    </>
  );
}
