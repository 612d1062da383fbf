import { Suspense, useState } from "react";
import { NavLink, Outlet, useLocation } from "react-router-dom";
import { useAuth } from "../../auth/AuthProvider";
import { useTheme } from "../../lib/theme";
import { Icon, type IconName } from "../ui/Icon";
import { Loading } from "../ui/Spinner";
import { cn } from "../ui/cn";
import type { Role } from "../../api/queries/auth";

interface NavItem {
  to: string;
  label: string;
  icon: IconName;
  roles?: Role[];
}

export const NAV: NavItem[] = [
  { to: "/dashboard", label: "Dashboard", icon: "dashboard" },
  { to: "/workflows", label: "Workflows", icon: "workflows" },
  { to: "/logs", label: "Logs", icon: "logs" },
  { to: "/analytics", label: "Analytics", icon: "analytics" },
  { to: "/api-keys", label: "API keys", icon: "key" },
  { to: "/integrations", label: "Integrations", icon: "integrations", roles: ["admin", "developer"] },
  { to: "/settings", label: "Settings", icon: "settings" },
];

export function navFor(role: Role | undefined): NavItem[] {
  return NAV.filter((n) => !n.roles || (role !== undefined && n.roles.includes(role)));
}

function ThemeToggle() {
  const [theme, toggle] = useTheme();
  return (
    <button
      type="button"
      onClick={toggle}
      className="rounded-md p-2 text-slate-500 hover:bg-slate-100 hover:text-slate-900 dark:text-slate-400 dark:hover:bg-slate-800 dark:hover:text-white"
      aria-label={theme === "dark" ? "Switch to light mode" : "Switch to dark mode"}
      title={theme === "dark" ? "Light mode" : "Dark mode"}
    >
      <Icon name={theme === "dark" ? "sun" : "moon"} />
    </button>
  );
}

function Logo() {
  return (
    <div className="flex items-center gap-2 px-2">
      <img src="/favicon.svg" alt="" className="h-7 w-7" />
      <span className="text-base font-semibold tracking-tight text-slate-900 dark:text-white">Headrace</span>
    </div>
  );
}

export function AppLayout() {
  const { user, logout } = useAuth();
  const [open, setOpen] = useState(false);
  const location = useLocation();
  const items = navFor(user?.role);

  const nav = (
    <nav aria-label="Main" className="flex flex-1 flex-col gap-0.5">
      {items.map((item) => (
        <NavLink
          key={item.to}
          to={item.to}
          onClick={() => setOpen(false)}
          className={({ isActive }) =>
            cn(
              "flex items-center gap-3 rounded-md px-3 py-2 text-sm font-medium transition-colors",
              isActive
                ? "bg-teal-50 text-teal-800 dark:bg-teal-950 dark:text-teal-200"
                : "text-slate-600 hover:bg-slate-100 hover:text-slate-900 dark:text-slate-400 dark:hover:bg-slate-800 dark:hover:text-white",
            )
          }
        >
          <Icon name={item.icon} />
          {item.label}
        </NavLink>
      ))}
    </nav>
  );

  const userBox = (
    <div className="border-t border-slate-200 pt-3 dark:border-slate-800">
      <div className="flex items-center justify-between gap-2 px-2">
        <div className="min-w-0">
          <p className="truncate text-sm font-medium text-slate-900 dark:text-white" data-testid="current-user">
            {user?.name || user?.email}
          </p>
          <p className="truncate text-xs text-slate-500">{user?.role}</p>
        </div>
        <div className="flex items-center">
          <ThemeToggle />
          <button
            type="button"
            onClick={logout}
            className="rounded-md p-2 text-slate-500 hover:bg-slate-100 hover:text-slate-900 dark:text-slate-400 dark:hover:bg-slate-800 dark:hover:text-white"
            aria-label="Log out"
            title="Log out"
          >
            <Icon name="logout" />
          </button>
        </div>
      </div>
    </div>
  );

  return (
    <div className="min-h-screen md:flex">
      <a href="#main" className="sr-only focus:not-sr-only focus:absolute focus:left-2 focus:top-2 focus:z-50 focus:rounded focus:bg-white focus:px-3 focus:py-2">
        Skip to content
      </a>
      {/* Small screens: a top bar with a menu button. */}
      <header className="flex items-center justify-between border-b border-slate-200 bg-white px-4 py-2 md:hidden dark:border-slate-800 dark:bg-slate-900">
        <Logo />
        <button
          type="button"
          className="rounded-md p-2 text-slate-600 dark:text-slate-300"
          aria-expanded={open}
          aria-controls="sidebar"
          aria-label="Menu"
          onClick={() => setOpen((o) => !o)}
        >
          <Icon name="menu" />
        </button>
      </header>
      <aside
        id="sidebar"
        className={cn(
          "flex-col gap-4 border-r border-slate-200 bg-white p-3 md:sticky md:top-0 md:flex md:h-screen md:w-56 md:shrink-0 dark:border-slate-800 dark:bg-slate-900",
          open ? "flex" : "hidden",
        )}
      >
        <div className="hidden py-2 md:block">
          <Logo />
        </div>
        {nav}
        {userBox}
      </aside>
      <main id="main" className="min-w-0 flex-1 px-4 py-6 md:px-8">
        <Suspense key={location.pathname} fallback={<Loading />}>
          <Outlet />
        </Suspense>
      </main>
    </div>
  );
}
