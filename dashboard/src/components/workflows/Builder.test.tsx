import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { act, fireEvent, render, screen } from "@testing-library/react";
import { useState } from "react";
import { describe, expect, it } from "vitest";
import served from "../../test/definition-schema.json";
import Builder, { definitionSchemaQuery } from "./Builder";

const TEXT = JSON.stringify(
  {
    steps: [
      { id: "fetch", type: "http", with: { url: "https://example.com" } },
      { id: "note", type: "log", depends_on: ["fetch"], with: {} },
    ],
  },
  null,
  2,
);

/** The builder inside a stand-in for the editor: one text, shown as `json`. */
function Harness({ initial, problems = [] }: { initial: string; problems?: { pointer: string; detail: string }[] }) {
  const [text, setText] = useState(initial);
  return (
    <>
      <textarea aria-label="definition text" value={text} onChange={(e) => setText(e.target.value)} />
      <Builder text={text} onChange={setText} problems={problems} />
    </>
  );
}

function renderBuilder(initial = TEXT, problems: { pointer: string; detail: string }[] = []) {
  const client = new QueryClient();
  client.setQueryData(definitionSchemaQuery.queryKey, served);
  return render(
    <QueryClientProvider client={client}>
      <Harness initial={initial} problems={problems} />
    </QueryClientProvider>,
  );
}

const json = () => JSON.parse((screen.getByLabelText("definition text") as HTMLTextAreaElement).value);

describe("Builder", () => {
  it("shows a step's form from the schema, and its edits show in the JSON at once", () => {
    renderBuilder();
    fireEvent.click(screen.getByRole("button", { name: "Edit fetch" }));
    expect((screen.getByLabelText("url") as HTMLInputElement).value).toBe("https://example.com");
    expect(screen.getByLabelText("method").tagName).toBe("SELECT");
    expect(screen.getByLabelText("Step id")).toBeTruthy();
    fireEvent.change(screen.getByLabelText("url"), { target: { value: "https://example.com/{{ input.id }}" } });
    expect(json().steps[0].with.url).toBe("https://example.com/{{ input.id }}");
  });

  it("follows edits made in the JSON", () => {
    renderBuilder();
    fireEvent.change(screen.getByLabelText("definition text"), { target: { value: TEXT.replace("https://example.com", "https://changed.example") } });
    fireEvent.click(screen.getByRole("button", { name: "Edit fetch" }));
    expect((screen.getByLabelText("url") as HTMLInputElement).value).toBe("https://changed.example");
  });

  it("adds a step of each type from the Add step menu", () => {
    renderBuilder();
    fireEvent.click(screen.getByRole("button", { name: "Add step" }));
    const items = screen.getAllByRole("menuitem").map((i) => i.textContent);
    expect(items).toContain("storage");
    fireEvent.click(screen.getByRole("menuitem", { name: "fail" }));
    expect(json().steps[2]).toEqual({ id: "fail", type: "fail", with: {} });
    expect(screen.getByLabelText("message")).toBeTruthy(); // the new step's form is open
  });

  it("shows the API's problem on the field it points at", () => {
    renderBuilder(TEXT, [{ pointer: "/steps/1/with/message", detail: "Field required" }]);
    fireEvent.click(screen.getByRole("button", { name: "Edit note" }));
    expect(screen.getByLabelText("message").getAttribute("aria-invalid")).toBe("true");
    expect(screen.getByTestId("field-error").textContent).toBe("Field required");
  });

  it("keeps the last valid definition, read-only, while the JSON does not parse", () => {
    renderBuilder();
    fireEvent.change(screen.getByLabelText("definition text"), { target: { value: "{ broken" } });
    expect(screen.getByText(/last valid definition/)).toBeTruthy();
    expect(screen.getByRole("button", { name: "Add step" })).toHaveProperty("disabled", true);
    fireEvent.click(screen.getByRole("button", { name: "Edit fetch" }));
    expect(screen.getByLabelText("url")).toHaveProperty("disabled", true);
    expect((screen.getByLabelText("definition text") as HTMLTextAreaElement).value).toBe("{ broken");
  });

  it("undoes and redoes its own edits", () => {
    renderBuilder();
    fireEvent.click(screen.getByRole("button", { name: "Add step" }));
    fireEvent.click(screen.getByRole("menuitem", { name: "log" }));
    expect(json().steps).toHaveLength(3);
    act(() => {
      fireEvent.keyDown(screen.getByRole("button", { name: "Auto-layout" }), { key: "z", ctrlKey: true });
    });
    expect(json().steps).toHaveLength(2);
    fireEvent.click(screen.getByRole("button", { name: "Redo" }));
    expect(json().steps).toHaveLength(3);
  });
});
