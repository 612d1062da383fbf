import { fireEvent, render, screen } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import { ProblemList } from "../workflows/ProblemList";
import { StatusBadge } from "./StatusBadge";
import { Tabs } from "./Tabs";

describe("StatusBadge", () => {
  it("names the status and carries it for styling and tests", () => {
    render(<StatusBadge status="failed" />);
    const badge = screen.getByText("Failed");
    expect(badge.getAttribute("data-status")).toBe("failed");
    expect(badge.className).toContain("red");
  });
});

describe("ProblemList", () => {
  it("lists each problem with its line and jumps there on click", () => {
    const onReveal = vi.fn();
    const problem = { pointer: "/steps/0/type", detail: "unknown step type", line: 4, from: 40, to: 50, source: "server" as const };
    render(<ProblemList problems={[problem]} onReveal={onReveal} />);
    expect(screen.getByRole("alert").textContent).toContain("/steps/0/type");
    fireEvent.click(screen.getByRole("button", { name: "line 4" }));
    expect(onReveal).toHaveBeenCalledWith(problem);
  });

  it("renders nothing without problems", () => {
    const { container } = render(<ProblemList problems={[]} onReveal={() => {}} />);
    expect(container.innerHTML).toBe("");
  });
});

describe("Tabs", () => {
  it("moves between tabs with the arrow keys", () => {
    const onChange = vi.fn();
    render(
      <Tabs
        label="Docs"
        value="a"
        onChange={onChange}
        tabs={[
          { id: "a", label: "A" },
          { id: "b", label: "B" },
        ]}
      />,
    );
    const a = screen.getByRole("tab", { name: "A" });
    expect(a.getAttribute("aria-selected")).toBe("true");
    fireEvent.keyDown(a, { key: "ArrowRight" });
    expect(onChange).toHaveBeenCalledWith("b");
    fireEvent.keyDown(a, { key: "ArrowLeft" });
    expect(onChange).toHaveBeenLastCalledWith("b");
  });
});
