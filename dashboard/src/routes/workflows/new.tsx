import { useMemo } from "react";
import { useNavigate } from "react-router-dom";
import { can } from "../../api/queries/auth";
import { useCreateWorkflow } from "../../api/queries/workflows";
import { useAuth } from "../../auth/AuthProvider";
import { PageHeader } from "../../components/ui/Card";
import { EmptyState } from "../../components/ui/States";
import { useToast } from "../../components/ui/toast";
import { WorkflowEditor, type WorkflowDraft } from "../../components/workflows/WorkflowEditor";
import { NEW_WORKFLOW_DEFINITION, pretty } from "../../lib/templates";

export default function NewWorkflowPage() {
  const { user } = useAuth();
  const create = useCreateWorkflow();
  const navigate = useNavigate();
  const toast = useToast();
  const initial = useMemo<WorkflowDraft>(
    () => ({
      name: "",
      description: "",
      status: "active",
      shared: false,
      definition: pretty(NEW_WORKFLOW_DEFINITION),
      triggers: pretty([{ type: "manual" }]),
      variables: "{}",
    }),
    [],
  );
  if (!can(user, "editWorkflows")) {
    return <EmptyState icon="🔒" title="Only developers and admins create workflows" />;
  }
  return (
    <>
      <PageHeader title="New workflow" description="Build it step by step in the Builder, or write the definition as JSON: both edit the same document." />
      <WorkflowEditor
        initial={initial}
        saving={create.isPending}
        submitLabel="Create workflow"
        onSave={async (body) => {
          const wf = await create.mutateAsync(body);
          toast(`Created “${wf.name}”`, "success");
          navigate(`/workflows/${wf.id}`);
        }}
      />
    </>
  );
}
