import { Link } from "react-router-dom";
import { EmptyState } from "../components/ui/States";

export function NotFoundPage() {
  return (
    <EmptyState
      icon="?"
      title="Page not found"
      description="There is nothing at this address."
      action={
        <Link to="/dashboard" className="text-sm font-medium text-teal-700 hover:underline dark:text-teal-400">
          Go to the dashboard
        </Link>
      }
    />
  );
}
