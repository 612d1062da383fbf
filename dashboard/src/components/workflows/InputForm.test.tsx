import { fireEvent, render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { InputForm } from "./InputForm";

const SCHEMA = {
  type: "object",
  required: ["email"],
  properties: {
    email: { type: "string", description: "Where to write" },
    retries: { type: "integer", default: 2 },
    urgent: { type: "boolean" },
    plan: { enum: ["free", "pro"] },
  },
};

describe("InputForm", () => {
  it("renders one labelled control per property, with defaults", () => {
    render(<InputForm schema={SCHEMA} onSubmit={() => {}} />);
    expect(screen.getByLabelText(/email/)).toHaveProperty("type", "text");
    expect(screen.getByLabelText("retries")).toHaveProperty("value", "2");
    expect(screen.getByLabelText("urgent")).toHaveProperty("type", "checkbox");
    expect(screen.getByLabelText("plan").tagName).toBe("SELECT");
    expect(screen.getByText("Where to write")).toBeTruthy();
  });

  it("submits typed input and refuses a missing required field", async () => {
    const onSubmit = vi.fn();
    const user = userEvent.setup();
    render(<InputForm schema={SCHEMA} onSubmit={onSubmit} />);
    await user.click(screen.getByRole("button", { name: "Run" }));
    expect(onSubmit).not.toHaveBeenCalled();
    expect(screen.getByText("Required")).toBeTruthy();

    await user.type(screen.getByLabelText(/email/), "a@example.com");
    await user.click(screen.getByLabelText("urgent"));
    await user.selectOptions(screen.getByLabelText("plan"), "pro");
    await user.click(screen.getByRole("button", { name: "Run" }));
    expect(onSubmit).toHaveBeenCalledWith({ email: "a@example.com", retries: 2, urgent: true, plan: "pro" });
  });

  it("shows the API's problems next to their field", () => {
    render(<InputForm schema={SCHEMA} onSubmit={() => {}} serverErrors={{ email: "'x' is not an email" }} />);
    expect(screen.getByText("'x' is not an email")).toBeTruthy();
    expect(screen.getByLabelText(/email/).getAttribute("aria-invalid")).toBe("true");
  });

  it("switches to JSON, carrying over what was typed", async () => {
    const onSubmit = vi.fn();
    const user = userEvent.setup();
    render(<InputForm schema={SCHEMA} onSubmit={onSubmit} />);
    await user.type(screen.getByLabelText(/email/), "b@example.com");
    await user.click(screen.getByRole("button", { name: "Edit as JSON" }));
    const area = screen.getByLabelText("Input (JSON)") as HTMLTextAreaElement;
    expect(JSON.parse(area.value)).toEqual({ email: "b@example.com", retries: 2, urgent: false });
    fireEvent.change(area, { target: { value: '{"email": "c@example.com", "extra": [1]}' } });
    await user.click(screen.getByRole("button", { name: "Run" }));
    expect(onSubmit).toHaveBeenCalledWith({ email: "c@example.com", extra: [1] });
  });

  it("asks for JSON when the schema is not a simple object", async () => {
    const onSubmit = vi.fn();
    render(<InputForm schema={{ type: "array" }} onSubmit={onSubmit} />);
    const area = screen.getByLabelText("Input (JSON)");
    fireEvent.change(area, { target: { value: "[1, 2" } });
    fireEvent.click(screen.getByRole("button", { name: "Run" }));
    expect(onSubmit).not.toHaveBeenCalled();
    expect(screen.getByText(/Not valid JSON/)).toBeTruthy();
  });

  it("says so when the workflow takes no input", () => {
    render(<InputForm schema={{ type: "object" }} onSubmit={() => {}} />);
    expect(screen.getByText("This workflow takes no input.")).toBeTruthy();
  });
});
