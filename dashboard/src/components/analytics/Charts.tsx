/** The analytics charts (Recharts), in their own chunk: loaded only on /analytics. */
import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { formatDuration } from "../../lib/format";
import { statusStyle } from "../../lib/status";

const axis = { fontSize: 11, fill: "#94a3b8" };

export function RunsOverTime({ rows }: { rows: { label: string; completed: number; failed: number; other: number }[] }) {
  return (
    <ResponsiveContainer width="100%" height={260}>
      <BarChart data={rows} margin={{ top: 8, right: 8, left: -16, bottom: 0 }}>
        <CartesianGrid strokeDasharray="3 3" stroke="#94a3b833" />
        <XAxis dataKey="label" tick={axis} />
        <YAxis allowDecimals={false} tick={axis} />
        <Tooltip />
        <Legend wrapperStyle={{ fontSize: 12 }} />
        <Bar dataKey="completed" stackId="a" fill={statusStyle("completed").hex} name="completed" />
        <Bar dataKey="failed" stackId="a" fill={statusStyle("failed").hex} name="failed" />
        <Bar dataKey="other" stackId="a" fill={statusStyle("pending").hex} name="other" />
      </BarChart>
    </ResponsiveContainer>
  );
}

export function Durations({ rows }: { rows: { name: string; p50: number | null; p95: number | null }[] }) {
  return (
    <ResponsiveContainer width="100%" height={Math.max(160, rows.length * 36 + 40)}>
      <BarChart data={rows} layout="vertical" margin={{ top: 8, right: 16, left: 8, bottom: 0 }}>
        <CartesianGrid strokeDasharray="3 3" stroke="#94a3b833" />
        <XAxis type="number" tick={axis} tickFormatter={(v: number) => formatDuration(v)} />
        <YAxis type="category" dataKey="name" tick={axis} width={120} />
        <Tooltip formatter={(v) => formatDuration(Number(v))} />
        <Legend wrapperStyle={{ fontSize: 12 }} />
        <Bar dataKey="p50" fill="#0d9488" name="p50" />
        <Bar dataKey="p95" fill="#f59e0b" name="p95" />
      </BarChart>
    </ResponsiveContainer>
  );
}

export default RunsOverTime;
