/** Light/dark theme, remembered in localStorage (index.html applies it before first paint). */
import { useCallback, useEffect, useState } from "react";

export type Theme = "light" | "dark";
const KEY = "headrace.theme";

function current(): Theme {
  return document.documentElement.classList.contains("dark") ? "dark" : "light";
}

export function applyTheme(theme: Theme): void {
  document.documentElement.classList.toggle("dark", theme === "dark");
  try {
    localStorage.setItem(KEY, theme);
  } catch {
    /* private mode: the choice lasts for this page only */
  }
  window.dispatchEvent(new CustomEvent("headrace:theme", { detail: theme }));
}

export function useTheme(): [Theme, () => void] {
  const [theme, setTheme] = useState<Theme>(current);
  useEffect(() => {
    const on = () => setTheme(current());
    window.addEventListener("headrace:theme", on);
    return () => window.removeEventListener("headrace:theme", on);
  }, []);
  const toggle = useCallback(() => applyTheme(current() === "dark" ? "light" : "dark"), []);
  return [theme, toggle];
}
