import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { ApiError, errorMessage } from "../../api/problem";
import { useExecute } from "../../api/queries/executions";
import { workflowQuery } from "../../api/queries/workflows";
import { Card, CardHeader, PageHeader } from "../../components/ui/Card";
import { Loading } from "../../components/ui/Spinner";
import { ErrorState } from "../../components/ui/States";
import { JsonView } from "../../components/ui/JsonView";
import { InputForm } from "../../components/workflows/InputForm";
import { readInputSchema, readSteps } from "../../lib/definition";

/** `/input_data/name/…` → "name"; `/input_data` → "" (the whole input). */
export function inputErrors(error: ApiError): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of error.errors) {
    if (e.pointer === "/input_data" || e.pointer === "") out[""] = e.detail;
    else if (e.pointer.startsWith("/input_data/")) {
      const name = e.pointer.slice("/input_data/".length).split("/")[0]!.replace(/~1/g, "/").replace(/~0/g, "~");
      out[name] = e.detail;
    } else out[""] = `${e.pointer}: ${e.detail}`;
  }
  if (!error.errors.length) out[""] = errorMessage(error);
  return out;
}

export default function ExecutePage() {
  const { id = "" } = useParams();
  const workflow = useQuery(workflowQuery(id));
  const execute = useExecute(id);
  const navigate = useNavigate();
  const [serverErrors, setServerErrors] = useState<Record<string, string>>({});

  if (workflow.isPending) return <Loading />;
  if (workflow.isError) return <ErrorState error={workflow.error} retry={() => void workflow.refetch()} />;
  const wf = workflow.data;
  const schema = readInputSchema(wf.definition);

  return (
    <>
      <PageHeader
        title={`Run “${wf.name}”`}
        description={
          <>
            Version {wf.version} · {readSteps(wf.definition).length} steps ·{" "}
            <Link to={`/workflows/${wf.id}`} className="text-teal-700 hover:underline dark:text-teal-400">
              back to the workflow
            </Link>
          </>
        }
      />
      <div className="grid items-start gap-6 lg:grid-cols-[2fr_1fr]">
        <Card>
          <CardHeader title="Input" description="Checked against the definition's input_schema before anything starts." />
          <div className="p-4">
            <InputForm
              schema={schema}
              submitting={execute.isPending}
              serverErrors={serverErrors}
              onSubmit={async (input) => {
                setServerErrors({});
                try {
                  const started = await execute.mutateAsync({ input_data: input, async_mode: true, variables: {} });
                  navigate(`/executions/${started.execution_id}`);
                } catch (e) {
                  setServerErrors(e instanceof ApiError && e.status === 422 ? inputErrors(e) : { "": errorMessage(e) });
                }
              }}
            />
          </div>
        </Card>
        <Card>
          <CardHeader title="input_schema" />
          <div className="p-4">
            {schema ? <JsonView value={schema} maxHeight="max-h-96" /> : <p className="text-sm text-slate-500">No input schema: any JSON input is accepted.</p>}
          </div>
        </Card>
      </div>
    </>
  );
}
