import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { fireEvent, render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { LlmConnectionForm } from "./LlmConnectionForm";

function renderForm() {
  const client = new QueryClient({ defaultOptions: { mutations: { retry: false } } });
  return render(
    <QueryClientProvider client={client}>
      <LlmConnectionForm />
    </QueryClientProvider>,
  );
}

describe("LlmConnectionForm (an AI model connection)", () => {
  it("fills a provider's base URL and default model, and names the connection after it", () => {
    renderForm();
    fireEvent.click(screen.getByRole("button", { name: "Ollama" }));
    expect((screen.getByLabelText(/Base URL/) as HTMLInputElement).value).toBe("http://localhost:11434/v1");
    expect((screen.getByLabelText(/Default model/) as HTMLInputElement).value).toBe("llama3.1");
    expect((screen.getByLabelText(/Name/) as HTMLInputElement).value).toBe("ollama");
  });

  it("keeps a name already typed", () => {
    renderForm();
    fireEvent.change(screen.getByLabelText(/Name/), { target: { value: "gpt" } });
    fireEvent.click(screen.getByRole("button", { name: "OpenAI" }));
    expect((screen.getByLabelText(/Name/) as HTMLInputElement).value).toBe("gpt");
    expect((screen.getByLabelText(/Base URL/) as HTMLInputElement).value).toBe("https://api.openai.com/v1");
    expect((screen.getByLabelText(/API key/) as HTMLInputElement).type).toBe("password");
  });
});
