import { lazy } from "react";
import { createBrowserRouter, Navigate, RouterProvider } from "react-router-dom";
import { AuthProvider } from "./auth/AuthProvider";
import { RequireAuth } from "./auth/RequireAuth";
import { AppLayout } from "./components/layout/AppLayout";
import { ToastProvider } from "./components/ui/toast";
import { LoginPage } from "./routes/login";
import { NotFoundPage } from "./routes/not-found";

// Each page is its own chunk: the graph, editor and chart libraries load only where used.
const DashboardPage = lazy(() => import("./routes/dashboard"));
const WorkflowsPage = lazy(() => import("./routes/workflows/index"));
const NewWorkflowPage = lazy(() => import("./routes/workflows/new"));
const WorkflowPage = lazy(() => import("./routes/workflows/detail"));
const ExecutePage = lazy(() => import("./routes/workflows/execute"));
const ExecutionPage = lazy(() => import("./routes/executions/detail"));
const LogsPage = lazy(() => import("./routes/logs"));
const AnalyticsPage = lazy(() => import("./routes/analytics"));
const ApiKeysPage = lazy(() => import("./routes/api-keys"));
const IntegrationsPage = lazy(() => import("./routes/integrations"));
const SettingsPage = lazy(() => import("./routes/settings"));

const router = createBrowserRouter([
  { path: "/login", element: <LoginPage /> },
  {
    path: "/",
    element: (
      <RequireAuth>
        <AppLayout />
      </RequireAuth>
    ),
    children: [
      { index: true, element: <Navigate to="/dashboard" replace /> },
      { path: "dashboard", element: <DashboardPage /> },
      { path: "workflows", element: <WorkflowsPage /> },
      { path: "workflows/new", element: <NewWorkflowPage /> },
      { path: "workflows/:id", element: <WorkflowPage /> },
      { path: "workflows/:id/execute", element: <ExecutePage /> },
      { path: "executions/:id", element: <ExecutionPage /> },
      { path: "logs", element: <LogsPage /> },
      { path: "analytics", element: <AnalyticsPage /> },
      { path: "api-keys", element: <ApiKeysPage /> },
      { path: "integrations", element: <IntegrationsPage /> },
      { path: "settings", element: <SettingsPage /> },
      { path: "*", element: <NotFoundPage /> },
    ],
  },
]);

export function App() {
  return (
    <ToastProvider>
      <AuthProvider>
        <RouterProvider router={router} future={{ v7_startTransition: true }} />
      </AuthProvider>
    </ToastProvider>
  );
}
