import { useState } from "react";
import { useNavigate } from "react-router-dom";
import { PATHS, useFeatures } from "../../api/features";
import { errorMessage } from "../../api/problem";
import { useExecutionAction, type Execution } from "../../api/queries/executions";
import { tryParseJson } from "../../lib/jsonPointer";
import { formatDateTime, formatRelative } from "../../lib/format";
import { isTerminal } from "../../lib/status";
import { collectWaits, type Wait } from "../../lib/waits";
import { Button } from "../ui/Button";
import { Dialog } from "../ui/Dialog";
import { Field, Input, Textarea } from "../ui/Input";
import { Icon } from "../ui/Icon";
import { useToast } from "../ui/toast";

function ApprovalCard({ wait, execution }: { wait: Wait; execution: Execution }) {
  const action = useExecutionAction(execution.id);
  const toast = useToast();
  const [comment, setComment] = useState("");
  const decide = async (kind: "approve" | "reject") => {
    try {
      await action.mutateAsync({ kind, comment, step_id: wait.stepId });
      toast(kind === "approve" ? `Approved ${wait.stepId}` : `Rejected ${wait.stepId}`, "success");
      setComment("");
    } catch (e) {
      toast(errorMessage(e), "error");
    }
  };
  return (
    <div className="space-y-2 rounded-md border border-amber-300 bg-amber-50 p-3 dark:border-amber-800 dark:bg-amber-950/40" data-testid={`approval-${wait.stepId}`}>
      <p className="text-sm font-medium text-amber-900 dark:text-amber-200">
        Step <code>{wait.stepId}</code> waits for an approval
      </p>
      {wait.message && (
        <p className="whitespace-pre-wrap text-sm text-amber-950 dark:text-amber-100" data-testid={`approval-message-${wait.stepId}`}>
          {wait.message}
        </p>
      )}
      {wait.deadline && (
        <p className="text-xs text-amber-800 dark:text-amber-300" data-testid={`approval-deadline-${wait.stepId}`}>
          Decide before {formatDateTime(wait.deadline)} ({formatRelative(wait.deadline)})
        </p>
      )}
      {wait.approvers.length > 0 && <p className="text-xs text-amber-800 dark:text-amber-300">Approvers: {wait.approvers.join(", ")}</p>}
      <Field label="Comment">
        {(p) => <Textarea {...p} rows={2} value={comment} onChange={(e) => setComment(e.target.value)} className="font-sans text-sm" />}
      </Field>
      <div className="flex gap-2">
        <Button variant="success" size="sm" loading={action.isPending && action.variables?.kind === "approve"} disabled={action.isPending} onClick={() => decide("approve")}>
          Approve
        </Button>
        <Button variant="danger" size="sm" loading={action.isPending && action.variables?.kind === "reject"} disabled={action.isPending} onClick={() => decide("reject")}>
          Reject
        </Button>
      </div>
    </div>
  );
}

function ParkedCard({ wait, execution }: { wait: Wait; execution: Execution }) {
  const action = useExecutionAction(execution.id);
  const toast = useToast();
  const [output, setOutput] = useState("null");
  const resolve = async (kind: "retry" | "skip" | "abort") => {
    const parsed = tryParseJson(output);
    if (kind === "skip" && !parsed.ok) {
      toast("The output is not valid JSON", "error");
      return;
    }
    try {
      await action.mutateAsync({ kind: "resolve", step_id: wait.stepId, action: kind, output: kind === "skip" && parsed.ok ? parsed.value : undefined });
      toast(`Step ${wait.stepId}: ${kind}`, "success");
    } catch (e) {
      toast(errorMessage(e), "error");
    }
  };
  return (
    <div className="space-y-2 rounded-md border border-orange-300 bg-orange-50 p-3 dark:border-orange-800 dark:bg-orange-950/40" data-testid={`parked-${wait.stepId}`}>
      <p className="text-sm font-medium text-orange-900 dark:text-orange-200">
        Step <code>{wait.stepId}</code> failed and is parked
      </p>
      {execution.steps.find((s) => s.id === wait.stepId)?.error && (
        <pre className="whitespace-pre-wrap font-mono text-xs text-orange-800 dark:text-orange-300">{execution.steps.find((s) => s.id === wait.stepId)?.error}</pre>
      )}
      <Field label="Output if skipped (JSON)">
        {(p) => <Textarea {...p} rows={2} value={output} onChange={(e) => setOutput(e.target.value)} />}
      </Field>
      <div className="flex gap-2">
        <Button size="sm" disabled={action.isPending} onClick={() => resolve("retry")}>
          Retry step
        </Button>
        <Button size="sm" disabled={action.isPending} onClick={() => resolve("skip")}>
          Skip
        </Button>
        <Button size="sm" variant="danger" disabled={action.isPending} onClick={() => resolve("abort")}>
          Abort run
        </Button>
      </div>
    </div>
  );
}

function SignalDialog({ execution, waits, open, onClose, initialName }: { execution: Execution; waits: Wait[]; open: boolean; onClose: () => void; initialName: string }) {
  const action = useExecutionAction(execution.id);
  const toast = useToast();
  const [name, setName] = useState(initialName);
  const [payload, setPayload] = useState("{}");
  const [error, setError] = useState<string | null>(null);
  const events = waits.filter((w) => w.kind === "event" && w.event);
  const send = async () => {
    const parsed = tryParseJson(payload);
    if (!parsed.ok) {
      setError(`Payload is not valid JSON: ${parsed.error}`);
      return;
    }
    setError(null);
    try {
      const res = await action.mutateAsync({ kind: "signal", name: name.trim(), payload: parsed.value });
      toast(`Signal “${name}” delivered${"step_id" in res && res.step_id ? ` to ${String(res.step_id)}` : ""}`, "success");
      onClose();
    } catch (e) {
      setError(errorMessage(e));
    }
  };
  return (
    <Dialog
      open={open}
      onClose={onClose}
      title="Send a signal"
      footer={
        <>
          <Button onClick={onClose}>Cancel</Button>
          <Button variant="primary" loading={action.isPending} disabled={!name.trim()} onClick={send}>
            Send
          </Button>
        </>
      }
    >
      <form
        className="space-y-3"
        onSubmit={(e) => {
          e.preventDefault();
          void send();
        }}
      >
        <Field label="Event name" hint={events.length ? `Waiting: ${events.map((w) => `${w.event} (${w.stepId})`).join(", ")}` : "Delivered to the wait_for_event step waiting for it."}>
          {(p) => <Input {...p} list="waiting-events" value={name} onChange={(e) => setName(e.target.value)} autoFocus />}
        </Field>
        <datalist id="waiting-events">
          {events.map((w) => (
            <option key={w.stepId} value={w.event} />
          ))}
        </datalist>
        <Field label="Payload (JSON)" error={error}>
          {(p) => <Textarea {...p} rows={6} value={payload} onChange={(e) => setPayload(e.target.value)} spellCheck={false} />}
        </Field>
        <button type="submit" className="hidden" />
      </form>
    </Dialog>
  );
}

export function ExecutionActions({ execution, definition }: { execution: Execution; definition: unknown }) {
  const features = useFeatures();
  const action = useExecutionAction(execution.id);
  const toast = useToast();
  const navigate = useNavigate();
  const [signalOpen, setSignalOpen] = useState(false);
  const [confirmCancel, setConfirmCancel] = useState(false);
  const terminal = isTerminal(execution.status);
  const waits = terminal ? [] : collectWaits(execution.waiting_for, execution.steps, definition);
  const eventWait = waits.find((w) => w.kind === "event");

  const run = async (a: Parameters<typeof action.mutateAsync>[0], message: string) => {
    try {
      const res = await action.mutateAsync(a);
      toast(message, "success");
      const newId = res.execution_id ?? res.id;
      if (a.kind === "retry" && newId && newId !== execution.id) navigate(`/executions/${newId}`);
    } catch (e) {
      toast(errorMessage(e), "error");
    }
  };

  // An express run has no history: it cannot be cancelled, signalled, paused or retried from a step.
  const durable = execution.execution_mode !== "express";
  return (
    <div className="space-y-3">
      <div className="flex flex-wrap items-center gap-2">
        {!terminal && durable && (
          <Button variant="danger" onClick={() => setConfirmCancel(true)}>
            Cancel run
          </Button>
        )}
        {!terminal && durable && (
          <Button onClick={() => setSignalOpen(true)}>Send signal…</Button>
        )}
        {!terminal && durable && execution.status !== "paused" && features.has("post", PATHS.pause) && (
          <Button onClick={() => run({ kind: "pause" }, "Pausing: running steps finish, no new one starts")}>Pause</Button>
        )}
        {execution.status === "paused" && features.has("post", PATHS.resume) && (
          <Button variant="primary" onClick={() => run({ kind: "resume" }, "Resumed")}>
            Resume
          </Button>
        )}
        {terminal && features.has("post", PATHS.retry) && (
          <>
            <Button onClick={() => run({ kind: "retry", from_failed: false }, "Started a new run with the same input")}>Run again</Button>
            {execution.status === "failed" && durable && (
              <Button variant="primary" onClick={() => run({ kind: "retry", from_failed: true }, "Retrying from the failed step")}>
                Retry from failed
              </Button>
            )}
          </>
        )}
        {execution.temporal_ui_url && (
          <a
            href={execution.temporal_ui_url}
            target="_blank"
            rel="noreferrer"
            className="inline-flex items-center gap-1 rounded-md px-2 py-1.5 text-sm font-medium text-teal-700 hover:bg-teal-50 dark:text-teal-400 dark:hover:bg-teal-950"
          >
            Temporal UI <Icon name="external" className="h-3.5 w-3.5" />
          </a>
        )}
      </div>
      {waits.map((w) =>
        w.kind === "approval" ? (
          <ApprovalCard key={w.stepId} wait={w} execution={execution} />
        ) : w.kind === "park" || w.kind === "parked" || w.kind === "resolve" ? (
          features.has("post", PATHS.resolve) ? <ParkedCard key={w.stepId} wait={w} execution={execution} /> : null
        ) : (
          <div key={w.stepId} className="flex items-center justify-between gap-3 rounded-md border border-cyan-300 bg-cyan-50 p-3 text-sm dark:border-cyan-800 dark:bg-cyan-950/40">
            <span>
              Step <code>{w.stepId}</code> waits for the event <code>{w.event ?? "?"}</code>
            </span>
            <Button size="sm" onClick={() => setSignalOpen(true)}>
              Send it…
            </Button>
          </div>
        ),
      )}
      {signalOpen && (
        <SignalDialog execution={execution} waits={waits} open={signalOpen} onClose={() => setSignalOpen(false)} initialName={eventWait?.event ?? ""} />
      )}
      <Dialog
        open={confirmCancel}
        onClose={() => setConfirmCancel(false)}
        title="Cancel this run?"
        footer={
          <>
            <Button onClick={() => setConfirmCancel(false)}>Keep running</Button>
            <Button
              variant="danger"
              loading={action.isPending}
              onClick={async () => {
                await run({ kind: "cancel" }, "Cancelling…");
                setConfirmCancel(false);
              }}
            >
              Cancel run
            </Button>
          </>
        }
      >
        <p className="text-sm">Running steps are cancelled and compensations (if any) run. This cannot be undone.</p>
      </Dialog>
    </div>
  );
}
