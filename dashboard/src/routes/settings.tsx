import { useQuery } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { ApiError, errorMessage } from "../api/problem";
import type { Role } from "../api/queries/auth";
import { PATHS, useFeatures } from "../api/features";
import { can } from "../api/queries/auth";
import { secretListQuery, useCreateSecret, useDeleteSecret } from "../api/queries/secrets";
import { useCreateUser, userListQuery, useUpdateUser } from "../api/queries/users";
import { useAuth } from "../auth/AuthProvider";
import { Button } from "../components/ui/Button";
import { Card, CardHeader, PageHeader } from "../components/ui/Card";
import { Field, Input, Select } from "../components/ui/Input";
import { Loading } from "../components/ui/Spinner";
import { EmptyState, ErrorState } from "../components/ui/States";
import { Badge } from "../components/ui/StatusBadge";
import { Table, Td, Th, Tr } from "../components/ui/Table";
import { useToast } from "../components/ui/toast";
import { formatRelative } from "../lib/format";
import { useTheme } from "../lib/theme";

const ROLES: Role[] = ["admin", "developer", "user"];

function Profile() {
  const { user, logout } = useAuth();
  const [theme, toggle] = useTheme();
  if (!user) return null;
  return (
    <Card>
      <CardHeader title="Profile" />
      <dl className="grid gap-4 p-4 text-sm sm:grid-cols-2 lg:grid-cols-4">
        <div>
          <dt className="text-xs text-slate-500">Name</dt>
          <dd className="font-medium">{user.name || "—"}</dd>
        </div>
        <div>
          <dt className="text-xs text-slate-500">Email</dt>
          <dd className="font-medium">{user.email}</dd>
        </div>
        <div>
          <dt className="text-xs text-slate-500">Role</dt>
          <dd>
            <Badge>{user.role}</Badge>
          </dd>
        </div>
        <div>
          <dt className="text-xs text-slate-500">Member since</dt>
          <dd>{formatRelative(user.created_at)}</dd>
        </div>
      </dl>
      <div className="flex flex-wrap gap-2 border-t border-slate-200 p-4 dark:border-slate-800">
        <Button onClick={toggle}>{theme === "dark" ? "Use light mode" : "Use dark mode"}</Button>
        <Button variant="ghost" onClick={logout}>
          Log out
        </Button>
      </div>
    </Card>
  );
}

function CreateUser() {
  const create = useCreateUser();
  const toast = useToast();
  const [form, setForm] = useState({ email: "", name: "", password: "", role: "user" as Role });
  const [errors, setErrors] = useState<Record<string, string>>({});
  async function submit(e: FormEvent) {
    e.preventDefault();
    setErrors({});
    try {
      const u = await create.mutateAsync(form);
      toast(`Created ${u.email}`, "success");
      setForm({ email: "", name: "", password: "", role: "user" });
    } catch (err) {
      if (err instanceof ApiError && err.errors.length) {
        setErrors(Object.fromEntries(err.errors.map((x) => [x.pointer.replace(/^\//, "") || "form", x.detail])));
      } else setErrors({ form: errorMessage(err) });
    }
  }
  const set = (k: keyof typeof form, v: string) => setForm((f) => ({ ...f, [k]: v }));
  return (
    <form onSubmit={submit} className="grid gap-3 p-4 md:grid-cols-5 md:items-start" aria-label="Create a user">
      <Field label="Email" required error={errors.email}>
        {(p) => <Input {...p} type="email" required value={form.email} onChange={(e) => set("email", e.target.value)} />}
      </Field>
      <Field label="Name" error={errors.name}>
        {(p) => <Input {...p} value={form.name} onChange={(e) => set("name", e.target.value)} />}
      </Field>
      <Field label="Password" required error={errors.password} hint="8 characters or more">
        {(p) => <Input {...p} type="password" autoComplete="new-password" minLength={8} required value={form.password} onChange={(e) => set("password", e.target.value)} />}
      </Field>
      <Field label="Role" error={errors.role}>
        {({ invalid: _i, ...p }) => (
          <Select {...p} value={form.role} onChange={(e) => set("role", e.target.value)}>
            {ROLES.map((r) => (
              <option key={r}>{r}</option>
            ))}
          </Select>
        )}
      </Field>
      <div className="pt-5">
        <Button type="submit" variant="primary" loading={create.isPending}>
          Add user
        </Button>
      </div>
      {errors.form && <p className="text-sm text-red-600 md:col-span-5">{errors.form}</p>}
    </form>
  );
}

function Users() {
  const { user: me } = useAuth();
  const users = useQuery(userListQuery());
  const update = useUpdateUser();
  const toast = useToast();
  const change = async (id: string, body: { role?: Role; disabled?: boolean }, message: string) => {
    try {
      await update.mutateAsync({ id, body });
      toast(message, "success");
    } catch (e) {
      toast(errorMessage(e), "error");
    }
  };
  return (
    <Card>
      <CardHeader title="Users" description="Admins see and manage everyone; developers own their workflows; users run shared ones." />
      <CreateUser />
      {users.isPending ? (
        <Loading />
      ) : users.isError ? (
        <ErrorState error={users.error} retry={() => void users.refetch()} className="m-4" />
      ) : users.data.data.length === 0 ? (
        <EmptyState title="No users" />
      ) : (
        <Table aria-label="Users">
          <thead>
            <tr>
              <Th>User</Th>
              <Th>Role</Th>
              <Th>Status</Th>
              <Th>Created</Th>
              <Th className="text-right">
                <span className="sr-only">Actions</span>
              </Th>
            </tr>
          </thead>
          <tbody className="divide-y divide-slate-100 dark:divide-slate-800">
            {users.data.data.map((u) => (
              <Tr key={u.id} data-testid={`user-row-${u.email}`}>
                <Td>
                  <p className="font-medium">{u.name || u.email}</p>
                  {u.name && <p className="text-xs text-slate-500">{u.email}</p>}
                </Td>
                <Td>
                  <Select
                    aria-label={`Role of ${u.email}`}
                    className="h-8 w-32 py-0 text-xs"
                    value={u.role}
                    disabled={u.id === me?.id}
                    onChange={(e) => change(u.id, { role: e.target.value as Role }, `${u.email} is now ${e.target.value}`)}
                  >
                    {ROLES.map((r) => (
                      <option key={r}>{r}</option>
                    ))}
                  </Select>
                </Td>
                <Td>{u.disabled ? <Badge className="text-red-600">disabled</Badge> : <Badge className="text-emerald-700">active</Badge>}</Td>
                <Td>{formatRelative(u.created_at)}</Td>
                <Td className="text-right">
                  {u.id !== me?.id && (
                    <Button size="sm" variant="ghost" onClick={() => change(u.id, { disabled: !u.disabled }, `${u.email} ${u.disabled ? "enabled" : "disabled"}`)}>
                      {u.disabled ? "Enable" : "Disable"}
                    </Button>
                  )}
                </Td>
              </Tr>
            ))}
          </tbody>
        </Table>
      )}
    </Card>
  );
}

function Secrets() {
  const secrets = useQuery(secretListQuery());
  const create = useCreateSecret();
  const remove = useDeleteSecret();
  const toast = useToast();
  const [name, setName] = useState("");
  const [value, setValue] = useState("");
  async function submit(e: FormEvent) {
    e.preventDefault();
    try {
      await create.mutateAsync({ name: name.trim(), value });
      toast(`Stored secret ${name.trim()}`, "success");
      setName("");
      setValue("");
    } catch {
      /* shown below */
    }
  }
  return (
    <Card>
      <CardHeader title="Secrets" description="Encrypted at rest; templates reach them as secrets.<name> inside steps. Values are never shown again." />
      <form onSubmit={submit} className="flex flex-wrap items-start gap-3 p-4" aria-label="Store a secret">
        <Field label="Name" className="w-56" hint="letters, digits, _">
          {(p) => <Input {...p} required pattern="[A-Za-z_][A-Za-z0-9_]*" value={name} onChange={(e) => setName(e.target.value)} />}
        </Field>
        <Field label="Value" className="min-w-[16rem] flex-1">
          {(p) => <Input {...p} type="password" autoComplete="off" required value={value} onChange={(e) => setValue(e.target.value)} />}
        </Field>
        <div className="pt-5">
          <Button type="submit" variant="primary" loading={create.isPending}>
            Store
          </Button>
        </div>
        {create.isError && <p className="w-full text-sm text-red-600">{errorMessage(create.error)}</p>}
      </form>
      {secrets.isPending ? (
        <Loading />
      ) : secrets.isError ? (
        <ErrorState error={secrets.error} retry={() => void secrets.refetch()} className="m-4" />
      ) : secrets.data.data.length === 0 ? (
        <EmptyState icon="🔒" title="No secrets" />
      ) : (
        <ul className="divide-y divide-slate-100 border-t border-slate-200 dark:divide-slate-800 dark:border-slate-800">
          {secrets.data.data.map((s) => (
            <li key={s.name} className="flex items-center justify-between px-4 py-2 text-sm">
              <code>secrets.{s.name}</code>
              <span className="flex items-center gap-3 text-xs text-slate-500">
                updated {formatRelative(s.updated_at)}
                <Button
                  size="sm"
                  variant="ghost"
                  className="text-red-600"
                  onClick={async () => {
                    if (!window.confirm(`Delete the secret ${s.name}? Steps that use it will fail.`)) return;
                    try {
                      await remove.mutateAsync(s.name);
                    } catch (e) {
                      toast(errorMessage(e), "error");
                    }
                  }}
                >
                  Delete
                </Button>
              </span>
            </li>
          ))}
        </ul>
      )}
    </Card>
  );
}

export default function SettingsPage() {
  const { user } = useAuth();
  const features = useFeatures();
  return (
    <>
      <PageHeader title="Settings" />
      <div className="space-y-4">
        <Profile />
        {can(user, "editWorkflows") && features.has("get", PATHS.secrets) && <Secrets />}
        {user?.role === "admin" && <Users />}
      </div>
    </>
  );
}
