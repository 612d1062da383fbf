/** The starting document of a new workflow: small, valid, and showing the main ideas. */
export const NEW_WORKFLOW_DEFINITION = {
  input_schema: {
    type: "object",
    properties: {
      name: { type: "string", title: "Name" },
      count: { type: "integer", default: 3 },
    },
    required: ["name"],
  },
  steps: [
    { id: "greet", type: "transform", with: { message: "Hello, {{ input.name }}!" } },
    { id: "pause", type: "sleep", depends_on: ["greet"], with: { duration: "1s" } },
    {
      id: "log",
      type: "log",
      depends_on: ["greet"],
      with: { message: "{{ steps.greet.output.message }}", level: "info" },
    },
    {
      id: "done",
      type: "transform",
      depends_on: ["pause", "log"],
      with: { greeting: "{{ steps.greet.output.message }}", count: "{{ input.count }}" },
    },
  ],
  output: { result: "{{ steps.done.output }}" },
};

export function pretty(value: unknown): string {
  return JSON.stringify(value, null, 2);
}
