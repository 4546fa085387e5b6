#!/usr/bin/env python3
"""The kubectl scenario suite: real, unmodified kubectl against a kedge API server.

Run it against a freshly started, empty kedge server:

    python3 tests/kubectl/scenarios.py --kubectl /path/to/kubectl --kubeconfig /path/to/kubeconfig

`cargo test --test kubectl_suite` does exactly that for every kubectl found on the machine
(1.27-1.33 beside `kubectl`, 1.35 in ~/.cache/kedge-test-tools), each against a new server.
By hand: start `kedge server --config /dev/null --disable-agent -d DIR/data
--write-kubeconfig DIR/kubeconfig.yaml --https-listen-port PORT`, wait for "kedge server is
ready", then run this script. Useful options: `--only NAME` (repeatable; runs the named
scenarios), `--list`, `--verbose` (prints every command run), `--keep` (keeps the scratch
directory with the manifests the scenarios wrote). Exit code: 0 all passed, 1 some failed,
2 the server did not answer /healthz.

Each scenario is one function below, decorated with @scenario. It gets a `Scenario` object
with its own namespace (`s-<name>`, created before and deleted after it, without waiting:
nothing may depend on another scenario's leftovers) and helpers to run kubectl and check
what it printed. A check that fails raises `Failed`; the runner prints one line per scenario,
`ok NAME` or `FAIL NAME: why` followed by the failing command and its stdout/stderr, then a
closing `N passed, M failed` line, and exits 1 if any scenario failed.

The expectations are those of upstream Kubernetes (kube-apiserver 1.35 with its usual
controllers) as seen through each kubectl version: where kubectl behaves differently across
versions (`kubectl events`, `auth whoami`, `explain`, `version`, delete messages, wait
forms, prune flags), the scenario adapts to the minor version parsed from
`kubectl version --client -o json`, or to what `kubectl COMMAND --help` offers. No scenario works around a server shortcoming (no
`--validate=false`): a missing server feature shows up as a failing scenario.

Standard library only.
"""

import argparse
import base64
import datetime
import ipaddress
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback

# --------------------------------------------------------------------------------------------
# Running kubectl and checking what it printed
# --------------------------------------------------------------------------------------------


class Failed(Exception):
    """A scenario check failed: `why`, and the command result that shows it (if any)."""

    def __init__(self, why, result=None):
        super().__init__(why)
        self.why = why
        self.result = result


class Result:
    """What one command did: its argv, exit code, stdout and stderr."""

    def __init__(self, argv, code, out, err, note=""):
        self.argv = argv
        self.code = code
        self.out = out
        self.err = err
        self.note = note

    def show(self):
        text = "    $ " + " ".join(shlex.quote(a) for a in self.argv)
        if self.note:
            text += "   # " + self.note
        text += "\n    exit code: %s" % self.code
        for label, stream in (("stdout", self.out), ("stderr", self.err)):
            stream = stream.rstrip("\n")
            if len(stream) > 6000:
                stream = stream[:6000] + "\n…(%d more characters)" % (len(stream) - 6000)
            if stream:
                text += "\n    %s:\n" % label + "\n".join("      | " + l for l in stream.split("\n"))
            else:
                text += "\n    %s: (empty)" % label
        return text


class Kubectl:
    """One kubectl binary, the kubeconfig it talks to and its minor version."""

    def __init__(self, path, kubeconfig, home, verbose=False):
        self.path = path
        self.kubeconfig = kubeconfig
        self.home = home
        self.verbose = verbose
        self.env = dict(os.environ)
        for var in ("KUBECTL_EXTERNAL_DIFF", "KUBE_EDITOR", "EDITOR", "KUBECTL_KUBERC", "KUBERC"):
            self.env.pop(var, None)
        # A home of our own: an isolated discovery cache, no ~/.kube/kuberc preferences.
        os.makedirs(home, exist_ok=True)
        self.env["HOME"] = home
        self.env["KUBECONFIG"] = kubeconfig
        info = json.loads(self.run(["version", "--client", "-o", "json"]).out)["clientVersion"]
        self.minor = int(re.match(r"\d+", info["minor"]).group())
        self.git_version = info["gitVersion"]
        self._help = {}

    def run(self, argv, stdin=None, env=None, timeout=60, kubeconfig=None):
        full_env = dict(self.env)
        if kubeconfig:
            full_env["KUBECONFIG"] = kubeconfig
        full_env.update(env or {})
        shown = ["kubectl"] + list(argv)
        note = " ".join("%s=%s" % kv for kv in (env or {}).items())
        if kubeconfig:
            note = ("KUBECONFIG=%s " % kubeconfig + note).strip()
        if self.verbose:
            print("  $ " + " ".join(shlex.quote(a) for a in shown), flush=True)
        try:
            proc = subprocess.run(
                [self.path] + list(argv),
                input=stdin if stdin is not None else "",
                env=full_env,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as e:
            out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
            err = e.stderr.decode() if isinstance(e.stderr, bytes) else (e.stderr or "")
            raise Failed("command did not finish within %ss" % timeout, Result(shown, "timeout", out, err, note))
        return Result(shown, proc.returncode, proc.stdout, proc.stderr, note)

    def has_help_text(self, command, needle):
        """Whether `kubectl COMMAND --help` mentions `needle` (to detect per-version features)."""
        key = tuple(command)
        if key not in self._help:
            r = self.run(list(command) + ["--help"])
            self._help[key] = r.out + r.err if r.code == 0 else None
        return self._help[key] is not None and needle in self._help[key]


class Background:
    """A kubectl started in the background (e.g. `get -w`), its output collected line by line."""

    def __init__(self, kubectl, argv):
        self.argv = ["kubectl"] + list(argv)
        self.proc = subprocess.Popen(
            [kubectl.path] + list(argv),
            env=kubectl.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines = []
        self.err = []
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._pump, args=(self.proc.stdout, self.lines), daemon=True),
            threading.Thread(target=self._pump, args=(self.proc.stderr, self.err), daemon=True),
        ]
        for t in self._threads:
            t.start()

    def _pump(self, stream, into):
        for line in stream:
            with self._lock:
                into.append(line.rstrip("\n"))

    def snapshot(self):
        with self._lock:
            return list(self.lines)

    def wait_for(self, predicate, timeout=20):
        """Waits until predicate(lines) is true; returns whether it became true."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if predicate(self.snapshot()):
                return True
            if self.proc.poll() is not None:
                time.sleep(0.2)  # let the pumps drain
                return predicate(self.snapshot())
            time.sleep(0.1)
        return False

    def finish(self, timeout=30):
        """Waits for the process to exit by itself (killing it after `timeout`); returns a Result."""
        try:
            self.proc.wait(timeout=timeout)
            note = ""
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            note = "killed after %ss" % timeout
        for t in self._threads:
            t.join(timeout=5)
        return Result(self.argv, self.proc.returncode if not note else "killed", "\n".join(self.lines), "\n".join(self.err), note)

    def stop(self):
        """Stops the process (SIGTERM to the pid we started) and returns a Result."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for t in self._threads:
            t.join(timeout=5)
        return Result(self.argv, self.proc.returncode, "\n".join(self.lines), "\n".join(self.err), "stopped by the suite")


def parse_table(text):
    """Parses kubectl's column output into (header names, rows as dicts keyed by header).

    Columns are found from the header: names are separated by two or more spaces (a name
    may hold one space, e.g. "LAST SEEN"); each cell is the text under its header.
    """
    lines = [l for l in text.split("\n") if l.strip()]
    if not lines:
        return [], []
    cols = [(m.start(), m.group()) for m in re.finditer(r"\S+(?: \S+)*", lines[0])]
    rows = []
    for line in lines[1:]:
        row = {}
        for i, (start, name) in enumerate(cols):
            end = cols[i + 1][0] if i + 1 < len(cols) else len(line)
            row[name] = line[start:end].strip()
        rows.append(row)
    return [c[1] for c in cols], rows


def now_rfc3339():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def jwt_claims(token):
    payload = token.split(".")[1]
    payload += "=" * (-len(payload) % 4)
    return json.loads(base64.urlsafe_b64decode(payload))


# --------------------------------------------------------------------------------------------
# The per-scenario context
# --------------------------------------------------------------------------------------------


class Scenario:
    """What a scenario function gets: its namespace, a scratch directory and check helpers."""

    def __init__(self, suite, name, ns):
        self.suite = suite
        self.kubectl = suite.kubectl
        self.minor = suite.kubectl.minor
        self.name = name
        self.ns = ns
        self.dir = os.path.join(suite.workdir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.last = None
        self.cleanups = []

    # ---- running ----------------------------------------------------------------------------

    def k(self, *args, stdin=None, env=None, timeout=60, kubeconfig=None, namespaced=True):
        """Runs kubectl (in this scenario's namespace unless namespaced=False)."""
        argv = (["-n", self.ns] if namespaced else []) + list(args)
        self.last = self.kubectl.run(argv, stdin=stdin, env=env, timeout=timeout, kubeconfig=kubeconfig)
        return self.last

    def ok(self, *args, **kw):
        """Runs kubectl and requires exit code 0; returns the Result."""
        r = self.k(*args, **kw)
        if r.code != 0:
            raise Failed("expected exit code 0", r)
        return r

    def fails(self, *args, code=None, **kw):
        """Runs kubectl and requires a non-zero exit code (or exactly `code`)."""
        r = self.k(*args, **kw)
        if (code is None and r.code == 0) or (code is not None and r.code != code):
            raise Failed("expected exit code %s" % (code if code is not None else "non-zero"), r)
        return r

    def background(self, *args, namespaced=True):
        argv = (["-n", self.ns] if namespaced else []) + list(args)
        if self.kubectl.verbose:
            print("  $ kubectl %s &" % " ".join(shlex.quote(a) for a in argv), flush=True)
        bg = Background(self.kubectl, argv)
        self.cleanups.append(bg.stop)
        return bg

    # ---- files ------------------------------------------------------------------------------

    def file(self, name, content):
        """Writes a file into the scenario's directory: a dict/list as JSON, a str as it is."""
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            if isinstance(content, (dict, list)):
                json.dump(content, f, indent=2)
            else:
                f.write(content)
        return path

    def token_kubeconfig(self, name, token):
        """A kubeconfig for the same server and CA that authenticates with a bearer token only."""
        cfg = json.loads(self.ok("config", "view", "--raw", "--minify", "-o", "json", namespaced=False).out)
        cluster = cfg["clusters"][0]
        doc = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [cluster],
            "users": [{"name": "token-user", "user": {"token": token}}],
            "contexts": [{"name": "token", "context": {"cluster": cluster["name"], "user": "token-user", "namespace": self.ns}}],
            "current-context": "token",
        }
        return self.file(name, doc)

    # ---- reading objects ----------------------------------------------------------------------

    def get_json(self, *what, namespaced=True):
        r = self.ok("get", *what, "-o", "json", namespaced=namespaced)
        try:
            return json.loads(r.out)
        except ValueError:
            raise Failed("`-o json` did not print JSON", r)

    def jsonpath(self, kind, name, path, namespaced=True):
        return self.ok("get", kind, name, "-o", "jsonpath=" + path, namespaced=namespaced).out

    def absent(self, kind, name, namespaced=True):
        """Requires `get KIND NAME` to fail with NotFound."""
        r = self.k("get", kind, name, namespaced=namespaced)
        if r.code == 0 or "(NotFound)" not in r.err:
            raise Failed("expected %s %s to be gone (NotFound)" % (kind, name), r)

    def eventually(self, what, check, timeout=15, interval=0.3):
        """Retries check() (which returns a truthy value or raises Failed) until it passes."""
        deadline = time.time() + timeout
        while True:
            try:
                value = check()
                if value:
                    return value
                failure = Failed("%s: not true after %ss" % (what, timeout), self.last)
            except Failed as e:
                failure = Failed("%s: not true after %ss: %s" % (what, timeout, e.why), e.result)
            if time.time() >= deadline:
                raise failure
            time.sleep(interval)

    # ---- checks -------------------------------------------------------------------------------

    def expect(self, cond, why, result=None):
        if not cond:
            raise Failed(why, result if result is not None else self.last)

    def expect_equal(self, actual, expected, what, result=None):
        if actual != expected:
            raise Failed("%s: expected %r, got %r" % (what, expected, actual), result if result is not None else self.last)

    def expect_in(self, needle, text, what="output", result=None):
        if needle not in text:
            raise Failed("%s lacks %r" % (what, needle), result if result is not None else self.last)

    def expect_not_in(self, needle, text, what="output", result=None):
        if needle in text:
            raise Failed("%s unexpectedly contains %r" % (what, needle), result if result is not None else self.last)

    def expect_match(self, pattern, text, what="output", result=None, flags=re.M):
        m = re.search(pattern, text, flags)
        if not m:
            raise Failed("%s does not match /%s/" % (what, pattern), result if result is not None else self.last)
        return m

    def expect_lines(self, result, expected, stream="out"):
        """Requires the stream's non-empty lines to be exactly `expected` (a list of lines)."""
        text = result.out if stream == "out" else result.err
        lines = [l.rstrip() for l in text.split("\n") if l.strip()]
        if lines != expected:
            raise Failed("expected %s lines %r, got %r" % ("stdout" if stream == "out" else "stderr", expected, lines), result)

    def expect_err_line(self, result, line):
        """Requires stderr to hold `line` as a whole line."""
        lines = [l.rstrip() for l in result.err.split("\n")]
        if line not in lines:
            raise Failed("stderr lacks the line %r" % line, result)

    # ---- version-dependent wording ----------------------------------------------------------

    def deleted(self, resource, name, namespaced=True, suffix=""):
        """The pattern of kubectl's delete message: 1.35 names the namespace, 1.27-1.33 do not."""
        head = re.escape('%s "%s" deleted' % (resource, name))
        in_ns = re.escape(" from %s namespace" % self.ns)
        if not namespaced or self.minor <= 33:
            ns_part = ""
        elif self.minor >= 35:
            ns_part = in_ns
        else:
            ns_part = "(?:%s)?" % in_ns
        return "^" + head + ns_part + re.escape(suffix) + "$"

    def expect_deleted(self, result, resource, name, namespaced=True, suffix=""):
        self.expect_match(self.deleted(resource, name, namespaced, suffix), result.out, "delete output", result)


# --------------------------------------------------------------------------------------------
# The runner
# --------------------------------------------------------------------------------------------

SCENARIOS = []


PENDING = {}


def scenario(name, namespace=True, pending=None):
    """Registers a scenario function under `name`.

    `pending` names a feature kedge does not have yet: the scenario still runs, and its
    failure is reported as PENDING rather than FAIL; if it passes, that is a FAIL (remove the
    mark), so the suite notices when the feature lands.
    """

    def register(fn):
        SCENARIOS.append((name, fn, namespace))
        if pending:
            PENDING[name] = pending
        return fn

    return register


class Suite:
    def __init__(self, kubectl, workdir):
        self.kubectl = kubectl
        self.workdir = workdir
        self.kubeconfig = kubectl.kubeconfig

    def run_one(self, name, fn, wants_ns):
        ns = "s-" + name
        t = Scenario(self, name, ns)
        try:
            if wants_ns:
                r = t.k("create", "namespace", ns, namespaced=False)
                if r.code != 0 and "AlreadyExists" in r.err:
                    # Not a fresh server (e.g. a second run by hand): use a new name.
                    ns = "s-%s-%s" % (name, os.urandom(2).hex())
                    t.ns = ns
                    r = t.k("create", "namespace", ns, namespaced=False)
                if r.code != 0:
                    raise Failed("could not create the scenario's namespace", r)
            fn(t)
            return None
        except Failed as e:
            return e
        except Exception:  # a bug in the scenario itself: report it like a failure
            return Failed("scenario crashed:\n" + traceback.format_exc(), t.last)
        finally:
            for cleanup in reversed(t.cleanups):
                try:
                    cleanup()
                except Exception:
                    pass
            if wants_ns:
                # Namespaces finalize asynchronously; nothing waits for that.
                self.kubectl.run(["delete", "namespace", t.ns, "--wait=false", "--ignore-not-found"])

    def run(self, only):
        failed = []
        passed = 0
        for name, fn, wants_ns in SCENARIOS:
            if only and name not in only:
                continue
            started = time.time()
            err = self.run_one(name, fn, wants_ns)
            took = time.time() - started
            if name in PENDING:
                if err is None:
                    failed.append(name)
                    print("FAIL %s: passes although marked pending (%s): remove the mark" % (name, PENDING[name]), flush=True)
                else:
                    print("PENDING %s (%s): %s" % (name, PENDING[name], err.why.split("\n")[0]), flush=True)
                continue
            if err is None:
                passed += 1
                print("ok %s (%.1fs)" % (name, took), flush=True)
            else:
                failed.append(name)
                print("FAIL %s: %s" % (name, err.why), flush=True)
                if err.result is not None:
                    print(err.result.show(), flush=True)
        print("kubectl %s: %d passed, %d failed" % (self.kubectl.git_version, passed, len(failed)))
        if failed:
            print("failed: " + " ".join(failed))
        print("%d passed, %d failed" % (passed, len(failed)), flush=True)
        return not failed


# --------------------------------------------------------------------------------------------
# Manifests
# --------------------------------------------------------------------------------------------


def configmap(name, data=None, labels=None, ns=None, **meta):
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}
    if ns:
        obj["metadata"]["namespace"] = ns
    if labels:
        obj["metadata"]["labels"] = labels
    obj["metadata"].update(meta)
    if data is not None:
        obj["data"] = data
    return obj


def deployment(name, image="nginx:1.25", replicas=1, containers=None, labels=None):
    labels = labels or {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": dict(labels)},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": dict(labels)},
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {"containers": containers or [{"name": "web", "image": image}]},
            },
        },
    }


def manifest_list(*objs):
    return {"apiVersion": "v1", "kind": "List", "items": list(objs)}


# --------------------------------------------------------------------------------------------
# Scenarios: discovery, get and its output formats
# --------------------------------------------------------------------------------------------


@scenario("api-resources", namespace=False)
def s_api_resources(t):
    r = t.ok("api-resources", namespaced=False)
    header, rows = parse_table(r.out)
    t.expect_equal(header, ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"], "api-resources header", r)
    by_name = {}
    for row in rows:
        by_name.setdefault(row["NAME"], []).append(row)
    want = [
        ("pods", "po", "v1", "true", "Pod"),
        ("configmaps", "cm", "v1", "true", "ConfigMap"),
        ("services", "svc", "v1", "true", "Service"),
        ("namespaces", "ns", "v1", "false", "Namespace"),
        ("secrets", "", "v1", "true", "Secret"),
        ("serviceaccounts", "sa", "v1", "true", "ServiceAccount"),
        ("deployments", "deploy", "apps/v1", "true", "Deployment"),
        ("jobs", "", "batch/v1", "true", "Job"),
        ("cronjobs", "cj", "batch/v1", "true", "CronJob"),
        ("customresourcedefinitions", "crd,crds", "apiextensions.k8s.io/v1", "false", "CustomResourceDefinition"),
        ("roles", "", "rbac.authorization.k8s.io/v1", "true", "Role"),
        ("priorityclasses", "pc", "scheduling.k8s.io/v1", "false", "PriorityClass"),
    ]
    for name, short, version, namespaced, kind in want:
        got = [(x["SHORTNAMES"], x["APIVERSION"], x["NAMESPACED"], x["KIND"]) for x in by_name.get(name, [])]
        t.expect((short, version, namespaced, kind) in got, "api-resources row for %s: expected %r, got %r" % (name, (short, version, namespaced, kind), got), r)

    r = t.ok("api-resources", "--api-group=apps", "-o", "name", namespaced=False)
    names = r.out.split()
    for n in ("deployments.apps", "replicasets.apps", "statefulsets.apps", "daemonsets.apps"):
        t.expect_in(n, names, "api-resources --api-group=apps -o name", r)
    t.expect_not_in("pods", names, "api-resources --api-group=apps -o name", r)

    r = t.ok("api-resources", "--namespaced=false", "-o", "name", namespaced=False)
    names = r.out.split()
    t.expect("namespaces" in names and "pods" not in names, "--namespaced=false lists namespaces and not pods", r)

    r = t.ok("api-resources", "--verbs=list", "-o", "wide", namespaced=False)
    header, rows = parse_table(r.out)
    t.expect("VERBS" in header, "api-resources -o wide has a VERBS column", r)
    pods = [x for x in rows if x["NAME"] == "pods"]
    t.expect(pods and all(v in pods[0]["VERBS"] for v in ("create", "delete", "get", "list", "patch", "update", "watch")), "pods verbs", r)

    r = t.ok("api-versions", namespaced=False)
    versions = r.out.split()
    for v in ("v1", "apps/v1", "batch/v1", "rbac.authorization.k8s.io/v1", "apiextensions.k8s.io/v1"):
        t.expect_in(v, versions, "api-versions", r)


# Resources every kube-apiserver 1.35 serves by default, beyond those checked above:
# (name, group/version, namespaced, short names).
UPSTREAM_RESOURCES = [
    ("componentstatuses", "v1", "false", "cs"),
    ("mutatingwebhookconfigurations", "admissionregistration.k8s.io/v1", "false", ""),
    ("validatingwebhookconfigurations", "admissionregistration.k8s.io/v1", "false", ""),
    ("validatingadmissionpolicies", "admissionregistration.k8s.io/v1", "false", ""),
    ("validatingadmissionpolicybindings", "admissionregistration.k8s.io/v1", "false", ""),
    ("apiservices", "apiregistration.k8s.io/v1", "false", ""),
    ("flowschemas", "flowcontrol.apiserver.k8s.io/v1", "false", ""),
    ("prioritylevelconfigurations", "flowcontrol.apiserver.k8s.io/v1", "false", ""),
    ("runtimeclasses", "node.k8s.io/v1", "false", ""),
    ("csistoragecapacities", "storage.k8s.io/v1", "true", ""),
    ("endpointslices", "discovery.k8s.io/v1", "true", ""),
    ("leases", "coordination.k8s.io/v1", "true", ""),
    ("certificatesigningrequests", "certificates.k8s.io/v1", "false", "csr"),
    ("horizontalpodautoscalers", "autoscaling/v2", "true", "hpa"),
    ("poddisruptionbudgets", "policy/v1", "true", "pdb"),
    ("ingressclasses", "networking.k8s.io/v1", "false", ""),
    ("networkpolicies", "networking.k8s.io/v1", "true", "netpol"),
    ("storageclasses", "storage.k8s.io/v1", "false", "sc"),
    ("csidrivers", "storage.k8s.io/v1", "false", ""),
    ("volumeattachments", "storage.k8s.io/v1", "false", ""),
    ("persistentvolumes", "v1", "false", "pv"),
    ("persistentvolumeclaims", "v1", "true", "pvc"),
    ("nodes", "v1", "false", "no"),
    ("daemonsets", "apps/v1", "true", "ds"),
    ("statefulsets", "apps/v1", "true", "sts"),
    ("replicasets", "apps/v1", "true", "rs"),
    ("controllerrevisions", "apps/v1", "true", ""),
]


@scenario("api-resources-upstream-set", namespace=False,
          pending="admission webhooks, API aggregation, priority and fairness, RuntimeClass, CSIStorageCapacity and ComponentStatus are not served yet")
def s_api_resources_upstream_set(t):
    """The resources kube-apiserver serves by default, which charts and tools expect."""
    r = t.ok("api-resources", namespaced=False)
    have = {(x["NAME"], x["APIVERSION"]): x for x in parse_table(r.out)[1]}
    missing = [n + " (" + gv + ")" for n, gv, _, _ in UPSTREAM_RESOURCES if (n, gv) not in have]
    t.expect(not missing, "api-resources lacks %s" % ", ".join(missing), r)
    for name, gv, namespaced, short in UPSTREAM_RESOURCES:
        row = have[(name, gv)]
        t.expect_equal((row["NAMESPACED"], row["SHORTNAMES"]), (namespaced, short), "NAMESPACED/SHORTNAMES of " + name, r)


@scenario("short-names")
def s_short_names(t):
    # Before the Deployment: its controller creates pods at once.
    r = t.ok("get", "po")
    t.expect_equal(r.out, "", "stdout of `get po` in a namespace without pods", r)
    t.expect_equal(r.err.strip(), "No resources found in %s namespace." % t.ns, "stderr of `get po`", r)
    t.ok("create", "configmap", "c1", "--from-literal=a=1")
    t.ok("create", "deployment", "d1", "--image=nginx:1.25")
    t.ok("create", "service", "clusterip", "svc1", "--tcp=80:80")
    t.ok("create", "serviceaccount", "sa1")
    for kind, name in (("deploy", "d1"), ("cm", "c1"), ("svc", "svc1"), ("sa", "sa1"),
                       ("deployments.apps", "d1"), ("deployment.v1.apps", "d1"), ("configmap", "c1")):
        r = t.ok("get", kind)
        header, rows = parse_table(r.out)
        t.expect(header[:1] == ["NAME"] and name in [x["NAME"] for x in rows], "`get %s` lists %s" % (kind, name), r)
    r = t.ok("get", "ns", t.ns)
    header, rows = parse_table(r.out)
    t.expect_equal(header, ["NAME", "STATUS", "AGE"], "`get ns` header", r)
    t.expect_equal([(x["NAME"], x["STATUS"]) for x in rows], [(t.ns, "Active")], "`get ns` row", r)
    r = t.ok("get", "cm/c1", "deploy/d1", "-o", "name")
    t.expect_lines(r, ["configmap/c1", "deployment.apps/d1"])


@scenario("get-table")
def s_get_table(t):
    t.ok("create", "configmap", "c1", "--from-literal=a=1", "--from-literal=b=2")
    t.ok("create", "secret", "generic", "s1", "--from-literal=p=x")
    t.ok("create", "deployment", "d1", "--image=nginx:1.25", "--replicas=2")
    t.ok("create", "service", "clusterip", "svc1", "--tcp=80:8080")
    t.ok("run", "p1", "--image=nginx:1.25")

    def one_row(kind, name, header_expected, *extra):
        r = t.ok("get", kind, name, *extra)
        header, rows = parse_table(r.out)
        t.expect_equal(header, header_expected, "`get %s %s %s` header" % (kind, name, " ".join(extra)), r)
        t.expect_equal(len(rows), 1, "number of rows", r)
        t.expect_equal(rows[0]["NAME"], name, "NAME cell", r)
        t.expect_match(r"^\d+(s|m|h|d|y)", rows[0]["AGE"], "AGE cell", r)
        return rows[0], r

    row, r = one_row("cm", "c1", ["NAME", "DATA", "AGE"])
    t.expect_equal(row["DATA"], "2", "configmap DATA", r)
    row, r = one_row("secret", "s1", ["NAME", "TYPE", "DATA", "AGE"])
    t.expect_equal((row["TYPE"], row["DATA"]), ("Opaque", "1"), "secret TYPE/DATA", r)
    row, r = one_row("deploy", "d1", ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"])
    t.expect_match(r"^\d+/2$", row["READY"], "deployment READY", r)
    t.expect_match(r"^\d+$", row["UP-TO-DATE"], "deployment UP-TO-DATE", r)
    t.expect_match(r"^\d+$", row["AVAILABLE"], "deployment AVAILABLE", r)
    row, r = one_row("deploy", "d1", ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"], "-o", "wide")
    t.expect_equal((row["CONTAINERS"], row["IMAGES"], row["SELECTOR"]), ("nginx", "nginx:1.25", "app=d1"), "deployment wide cells", r)
    row, r = one_row("svc", "svc1", ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"])
    t.expect_equal((row["TYPE"], row["EXTERNAL-IP"], row["PORT(S)"]), ("ClusterIP", "<none>", "80/TCP"), "service cells", r)
    t.expect(re.match(r"^\d+\.\d+\.\d+\.\d+$", row["CLUSTER-IP"]), "service CLUSTER-IP is an address", r)
    row, r = one_row("svc", "svc1", ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE", "SELECTOR"], "-o", "wide")
    t.expect_equal(row["SELECTOR"], "app=svc1", "service SELECTOR", r)
    row, r = one_row("pod", "p1", ["NAME", "READY", "STATUS", "RESTARTS", "AGE"])
    t.expect_equal((row["READY"], row["RESTARTS"]), ("0/1", "0"), "pod READY/RESTARTS", r)
    t.expect_equal(row["STATUS"], "Pending", "pod STATUS (no node to run it)", r)
    row, r = one_row("pod", "p1", ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED NODE", "READINESS GATES"], "-o", "wide")
    r = t.ok("get", "ns", "default", "kube-system")
    header, rows = parse_table(r.out)
    t.expect_equal([x["NAME"] for x in rows], ["default", "kube-system"], "namespaces listed", r)
    # `get` of several kinds prints one table per kind with kind-qualified names
    r = t.ok("get", "cm,secret", "-l", "!nothing")
    t.expect_match(r"^configmap/c1\s+2\s+", r.out, "multi-kind get", r)
    t.expect_match(r"^secret/s1\s+Opaque\s+1\s+", r.out, "multi-kind get", r)
    # no headers
    r = t.ok("get", "cm", "c1", "--no-headers")
    t.expect_match(r"^c1\s+2\s+\S+$", r.out.strip(), "--no-headers row", r)


@scenario("get-output-formats")
def s_get_output_formats(t):
    t.ok("create", "configmap", "c1", "--from-literal=k=v", "--from-literal=other=x")
    t.ok("create", "configmap", "c2", "--from-literal=k=w")
    t.ok("create", "deployment", "d1", "--image=nginx:1.25")

    obj = t.get_json("cm", "c1")
    t.expect_equal((obj.get("apiVersion"), obj.get("kind")), ("v1", "ConfigMap"), "-o json apiVersion/kind")
    t.expect_equal(obj.get("data"), {"k": "v", "other": "x"}, "-o json data")
    meta = obj.get("metadata", {})
    t.expect_equal((meta.get("name"), meta.get("namespace")), ("c1", t.ns), "-o json metadata")
    t.expect(meta.get("uid") and meta.get("resourceVersion") and meta.get("creationTimestamp"), "-o json has uid, resourceVersion, creationTimestamp")
    t.expect("managedFields" not in meta, "-o json hides managedFields by default")
    obj = t.get_json("cm", "c1", "--show-managed-fields")
    t.expect(obj["metadata"].get("managedFields"), "--show-managed-fields shows managedFields")

    lst = t.get_json("cm", "-l", "!nothing")
    t.expect_equal((lst.get("apiVersion"), lst.get("kind")), ("v1", "List"), "list -o json apiVersion/kind")
    t.expect({"c1", "c2"} <= {i["metadata"]["name"] for i in lst.get("items", [])}, "list -o json items")
    t.expect(all(i.get("kind") == "ConfigMap" and i.get("apiVersion") == "v1" for i in lst["items"]), "list items carry kind and apiVersion")

    r = t.ok("get", "cm", "c1", "-o", "yaml")
    for line in ("apiVersion: v1", "kind: ConfigMap", "data:", "  k: v", "  other: x", "  name: c1", "  namespace: " + t.ns):
        t.expect(line in r.out.split("\n"), "-o yaml has the line %r" % line, r)

    r = t.ok("get", "cm", "c1", "c2", "-o", "name")
    t.expect_lines(r, ["configmap/c1", "configmap/c2"])
    r = t.ok("get", "deploy", "-o", "name")
    t.expect_lines(r, ["deployment.apps/d1"])

    r = t.ok("get", "cm", "c1", "-o", "jsonpath={.data.k}")
    t.expect_equal(r.out, "v", "jsonpath output", r)
    r = t.ok("get", "cm", "c1", "c2", "-o", "jsonpath={range .items[*]}{.metadata.name}={.data.k}{\"\\n\"}{end}")
    t.expect_lines(r, ["c1=v", "c2=w"])
    r = t.ok("get", "deploy", "d1", "-o", "jsonpath={.spec.template.spec.containers[0].image}")
    t.expect_equal(r.out, "nginx:1.25", "jsonpath into a deployment", r)

    r = t.ok("get", "cm", "c1", "c2", "-o", "custom-columns=NAME:.metadata.name,K:.data.k")
    header, rows = parse_table(r.out)
    t.expect_equal((header, [(x["NAME"], x["K"]) for x in rows]), (["NAME", "K"], [("c1", "v"), ("c2", "w")]), "custom-columns", r)

    r = t.ok("get", "cm", "c1", "-o", "wide")
    header, rows = parse_table(r.out)
    t.expect_equal(header, ["NAME", "DATA", "AGE"], "configmap -o wide header", r)

    # go-template, and a jsonpath error
    r = t.ok("get", "cm", "c1", "-o", "go-template={{.metadata.name}}:{{.data.k}}")
    t.expect_equal(r.out, "c1:v", "go-template output", r)


@scenario("get-all-namespaces")
def s_get_all_namespaces(t):
    label = "suite=" + t.ns
    t.ok("create", "configmap", "c1", "--from-literal=a=1")
    t.ok("label", "configmap", "c1", label)
    r = t.ok("get", "cm", "-A", "-l", label, namespaced=False)
    header, rows = parse_table(r.out)
    t.expect_equal(header, ["NAMESPACE", "NAME", "DATA", "AGE"], "-A header", r)
    t.expect_equal([(x["NAMESPACE"], x["NAME"], x["DATA"]) for x in rows], [(t.ns, "c1", "1")], "-A rows", r)
    r = t.ok("get", "cm", "--all-namespaces", "-l", label, "-o", "name", namespaced=False)
    t.expect_lines(r, ["configmap/c1"])
    # namespaces of the system exist and are listed with -A
    r = t.ok("get", "namespaces", "-o", "name", namespaced=False)
    for ns in ("default", "kube-system", "kube-public", "kube-node-lease", t.ns):
        t.expect("namespace/" + ns in r.out.split(), "namespace %s listed" % ns, r)
    # -A with a kind that has nothing in it
    r = t.ok("get", "cm", "-A", "-l", "suite=nothing-" + t.ns, namespaced=False)
    t.expect_equal(r.err.strip(), "No resources found", "stderr of an empty -A list", r)


@scenario("get-labels")
def s_get_labels(t):
    for name, labels in (("a", "app=a,tier=web"), ("b", "app=b,tier=db"), ("c", "tier=web")):
        t.ok("create", "configmap", name)
        t.ok("label", "configmap", name, *labels.split(","))

    def names(*selector):
        r = t.ok("get", "cm", *selector, "-o", "name")
        return sorted(r.out.split())

    cases = [
        (["-l", "app=a"], ["configmap/a"]),
        (["-l", "tier=web"], ["configmap/a", "configmap/c"]),
        (["-l", "app in (a,b)"], ["configmap/a", "configmap/b"]),
        (["-l", "app notin (a),tier"], ["configmap/b", "configmap/c"]),
        (["-l", "app"], ["configmap/a", "configmap/b"]),
        (["-l", "!app,tier"], ["configmap/c"]),
        (["-l", "app=a,tier=db"], []),
        (["--selector=tier=db"], ["configmap/b"]),
    ]
    for selector, want in cases:
        t.expect_equal(names(*selector), want, "get cm %s" % " ".join(selector))

    r = t.ok("get", "cm", "a", "--show-labels")
    header, rows = parse_table(r.out)
    t.expect_equal(header, ["NAME", "DATA", "AGE", "LABELS"], "--show-labels header", r)
    t.expect_equal(rows[0]["LABELS"], "app=a,tier=web", "--show-labels cell", r)
    r = t.ok("get", "cm", "a", "c", "-L", "app", "-L", "tier")
    header, rows = parse_table(r.out)
    t.expect_equal(header, ["NAME", "DATA", "AGE", "APP", "TIER"], "-L header", r)
    t.expect_equal([(x["NAME"], x["APP"], x["TIER"]) for x in rows], [("a", "a", "web"), ("c", "", "web")], "-L cells", r)


@scenario("get-selectors-and-paging")
def s_get_selectors(t):
    for name in ("p3", "p1", "p2"):
        t.ok("create", "configmap", name, "--from-literal=n=" + name)
        t.ok("label", "configmap", name, "p=yes")
    r = t.ok("get", "cm", "--field-selector", "metadata.name=p2", "-o", "name")
    t.expect_lines(r, ["configmap/p2"])
    r = t.ok("get", "cm", "--field-selector", "metadata.name!=p2", "-l", "!x", "-o", "name")
    t.expect("configmap/p2" not in r.out.split() and {"configmap/p1", "configmap/p3"} <= set(r.out.split()), "field selector !=", r)
    r = t.fails("get", "cm", "--field-selector", "data.n=p2")
    t.expect_in('field label not supported: data.n', r.err, "stderr", r)
    # --sort-by needs whole objects in the Table (includeObject=Object)
    r = t.ok("get", "cm", "-l", "p=yes", "--sort-by=.metadata.name")
    t.expect_equal([x["NAME"] for x in parse_table(r.out)[1]], ["p1", "p2", "p3"], "--sort-by=.metadata.name order", r)
    r = t.ok("get", "cm", "-l", "p=yes", "--sort-by=.data.n", "-o", "name")
    t.expect_equal(r.out.split(), ["configmap/p1", "configmap/p2", "configmap/p3"], "--sort-by=.data.n order", r)
    # paging: kubectl follows `continue` tokens
    r = t.ok("get", "cm", "--chunk-size=1", "-o", "name")
    t.expect({"configmap/p1", "configmap/p2", "configmap/p3"} <= set(r.out.split()), "--chunk-size=1 lists every object", r)
    t.expect_equal(len(r.out.split()), len(set(r.out.split())), "--chunk-size=1 lists each object once", r)
    r = t.ok("get", "cm", "--chunk-size=2")
    header, rows = parse_table(r.out)
    t.expect(header == ["NAME", "DATA", "AGE"] and {"p1", "p2", "p3"} <= {x["NAME"] for x in rows}, "--chunk-size=2 table", r)


@scenario("get-watch")
def s_get_watch(t):
    t.ok("create", "configmap", "w1", "--from-literal=a=1")
    t.ok("label", "configmap", "w1", "w=yes")
    plain = t.background("get", "cm", "-l", "w=yes", "-w")
    events = t.background("get", "cm", "-l", "w=yes", "-w", "--output-watch-events")

    def rows(lines):
        return [l.split() for l in lines if l.strip()]

    def wait_rows(bg, n, what):
        if not bg.wait_for(lambda lines: len(rows(lines)) >= n, timeout=20):
            raise Failed("%s: expected %d lines, got %r" % (what, n, bg.snapshot()), bg.stop())

    wait_rows(plain, 2, "initial `get -w` output")
    wait_rows(events, 2, "initial `get -w --output-watch-events` output")
    # create, modify, delete; wait for each to show before the next
    t.ok("create", "configmap", "w2")
    t.ok("label", "configmap", "w2", "w=yes")
    wait_rows(plain, 3, "`get -w` after creating w2")
    wait_rows(events, 3, "`get -w --output-watch-events` after creating w2")
    t.ok("patch", "configmap", "w1", "--type=merge", "-p", '{"data":{"b":"2"}}')
    wait_rows(plain, 4, "`get -w` after modifying w1")
    wait_rows(events, 4, "`get -w --output-watch-events` after modifying w1")
    t.ok("delete", "configmap", "w1")
    wait_rows(plain, 5, "`get -w` after deleting w1")
    wait_rows(events, 5, "`get -w --output-watch-events` after deleting w1")
    time.sleep(0.5)  # anything extra (a stray BOOKMARK printed as a row) shows up now

    r = plain.stop()
    got = [row[:2] for row in rows(plain.snapshot())]
    want = [["NAME", "DATA"], ["w1", "1"], ["w2", "0"], ["w1", "2"], ["w1", "2"]]
    t.expect_equal(got, want, "`get -w` rows (NAME DATA)", r)
    t.expect(all(len(row) == 3 for row in rows(plain.snapshot())), "`get -w` rows have 3 cells", r)

    r = events.stop()
    got = [row[:3] for row in rows(events.snapshot())]
    want = [["EVENT", "NAME", "DATA"], ["ADDED", "w1", "1"], ["ADDED", "w2", "0"], ["MODIFIED", "w1", "2"], ["DELETED", "w1", "2"]]
    t.expect_equal(got, want, "`get -w --output-watch-events` rows (EVENT NAME DATA)", r)

    # -w -o name and -o json stream the objects too
    named = t.background("get", "cm", "w2", "-w", "-o", "name")
    if not named.wait_for(lambda lines: "configmap/w2" in lines, timeout=20):
        raise Failed("`get cm w2 -w -o name` did not print configmap/w2", named.stop())
    t.ok("annotate", "configmap", "w2", "touched=yes")
    if not named.wait_for(lambda lines: lines.count("configmap/w2") >= 2, timeout=20):
        raise Failed("`get cm w2 -w -o name` did not print the modification", named.stop())
    r = named.stop()
    t.expect_equal(named.snapshot(), ["configmap/w2", "configmap/w2"], "`get -w -o name` lines", r)


# --------------------------------------------------------------------------------------------
# Scenarios: apply, diff, edit, patch
# --------------------------------------------------------------------------------------------


@scenario("apply-client-side")
def s_apply_client_side(t):
    cm = configmap("a1", {"k": "v1", "gone": "soon"})
    dep = deployment("d1", image="nginx:1.25")
    path = t.file("v1.json", manifest_list(cm, dep))
    r = t.ok("apply", "-f", path)
    t.expect_lines(r, ["configmap/a1 created", "deployment.apps/d1 created"])
    obj = t.get_json("cm", "a1")
    applied = obj["metadata"].get("annotations", {}).get("kubectl.kubernetes.io/last-applied-configuration")
    t.expect(applied and json.loads(applied).get("data") == {"k": "v1", "gone": "soon"}, "last-applied-configuration annotation holds the applied data")

    r = t.ok("apply", "-f", path)
    t.expect_lines(r, ["configmap/a1 unchanged", "deployment.apps/d1 unchanged"])

    # someone else adds a key; apply must keep it (three-way merge)
    t.ok("patch", "configmap", "a1", "--type=merge", "-p", '{"data":{"theirs":"kept"}}')
    cm2 = configmap("a1", {"k": "v2", "new": "n"})
    dep2 = deployment("d1", image="nginx:1.26", replicas=2)
    path2 = t.file("v2.json", manifest_list(cm2, dep2))
    r = t.ok("apply", "-f", path2)
    t.expect_lines(r, ["configmap/a1 configured", "deployment.apps/d1 configured"])
    t.expect_equal(t.get_json("cm", "a1").get("data"), {"k": "v2", "new": "n", "theirs": "kept"},
                   "data after re-apply (changed k, added new, removed gone, kept theirs)")
    d = t.get_json("deploy", "d1")
    t.expect_equal(d["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:1.26", "deployment image after apply")
    t.expect_equal(d["spec"]["replicas"], 2, "deployment replicas after apply")
    t.expect_equal(len(d["spec"]["template"]["spec"]["containers"]), 1, "deployment containers after apply")
    t.expect_equal(d["metadata"].get("generation"), 2, "deployment generation after one spec change")

    # YAML manifests with several documents, and apply of a directory
    yaml_dir = os.path.join(t.dir, "yaml")
    os.makedirs(yaml_dir, exist_ok=True)
    with open(os.path.join(yaml_dir, "two.yaml"), "w") as f:
        f.write("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y1\ndata:\n  a: \"1\"\n---\n"
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y2\ndata:\n  b: two\n")
    r = t.ok("apply", "-f", yaml_dir)
    t.expect_lines(r, ["configmap/y1 created", "configmap/y2 created"])
    t.expect_equal(t.jsonpath("cm", "y2", "{.data.b}"), "two", "y2 data")
    # apply from stdin
    r = t.ok("apply", "-f", "-", stdin=json.dumps(configmap("y3", {"c": "3"})))
    t.expect_lines(r, ["configmap/y3 created"])


@scenario("apply-server-side")
def s_apply_server_side(t):
    path = t.file("alice.json", configmap("ss", {"k": "alice", "a": "1"}))
    r = t.ok("apply", "--server-side", "--field-manager=alice", "-f", path)
    t.expect_lines(r, ["configmap/ss serverside-applied"])
    obj = t.get_json("cm", "ss", "--show-managed-fields")
    managers = [(m.get("manager"), m.get("operation")) for m in obj["metadata"].get("managedFields", [])]
    t.expect_equal(managers, [("alice", "Apply")], "managedFields after the first server-side apply")
    entry = obj["metadata"]["managedFields"][0]
    t.expect_equal((entry.get("apiVersion"), entry.get("fieldsType")), ("v1", "FieldsV1"), "managedFields entry")
    t.expect("f:k" in entry.get("fieldsV1", {}).get("f:data", {}), "alice owns f:data f:k")
    t.expect("kubectl.kubernetes.io/last-applied-configuration" not in obj["metadata"].get("annotations", {}),
             "server-side apply adds no last-applied annotation")

    # the default manager `kubectl` sets the same field to another value: conflict
    mine = t.file("mine.json", configmap("ss", {"k": "mine"}))
    r = t.fails("apply", "--server-side", "-f", mine)
    t.expect_in('Apply failed with 1 conflict: conflict with "alice": .data.k', r.err, "stderr", r)
    t.expect_in("--force-conflicts", r.err, "stderr", r)
    t.expect_equal(t.jsonpath("cm", "ss", "{.data.k}"), "alice", "value after the refused apply")

    r = t.ok("apply", "--server-side", "--force-conflicts", "-f", mine)
    t.expect_lines(r, ["configmap/ss serverside-applied"])
    obj = t.get_json("cm", "ss", "--show-managed-fields")
    t.expect_equal(obj.get("data"), {"k": "mine", "a": "1"}, "data after --force-conflicts")
    owners = {m["manager"]: m.get("fieldsV1", {}).get("f:data", {}) for m in obj["metadata"]["managedFields"]}
    t.expect("f:k" in owners.get("kubectl", {}) and "f:k" not in owners.get("alice", {}) and "f:a" in owners.get("alice", {}),
             "after --force-conflicts kubectl owns .data.k and alice keeps .data.a: %r" % owners)

    # the same value from two managers is shared, not a conflict
    r = t.ok("apply", "--server-side", "--field-manager=bob", "-f", mine)
    t.expect_lines(r, ["configmap/ss serverside-applied"])

    # a manager that stops applying a field it alone owns removes it
    t.ok("apply", "--server-side", "--field-manager=alice", "-f", t.file("alice2.json", configmap("ss", {})))
    t.expect_equal(t.get_json("cm", "ss").get("data"), {"k": "mine"}, "data after alice dropped .data.a")

    # server-side apply of a deployment: create, then change the image
    dep = deployment("sd", image="nginx:1.25")
    r = t.ok("apply", "--server-side", "-f", t.file("dep.json", dep))
    t.expect_lines(r, ["deployment.apps/sd serverside-applied"])
    dep["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.26"
    r = t.ok("apply", "--server-side", "-f", t.file("dep2.json", dep))
    t.expect_lines(r, ["deployment.apps/sd serverside-applied"])
    t.expect_equal(t.jsonpath("deploy", "sd", "{.spec.template.spec.containers[0].image}"), "nginx:1.26", "image after server-side apply")
    t.expect_equal(t.jsonpath("deploy", "sd", "{.spec.strategy.type}"), "RollingUpdate", "defaulted strategy kept")


@scenario("apply-prune")
def s_apply_prune(t):
    label = "app=prune"
    allow = "--prune-allowlist=core/v1/ConfigMap" if t.minor >= 26 else "--prune-whitelist=core/v1/ConfigMap"
    both = t.file("both.json", manifest_list(configmap("p1", {"a": "1"}, {"app": "prune"}), configmap("p2", {"b": "2"}, {"app": "prune"})))
    r = t.ok("apply", "-f", both, "--prune", "-l", label, allow)
    t.expect_lines(r, ["configmap/p1 created", "configmap/p2 created"])
    # an object with the label that was never applied is also pruned; one without it is not
    t.ok("create", "configmap", "outsider")
    one = t.file("one.json", manifest_list(configmap("p1", {"a": "1"}, {"app": "prune"})))
    r = t.ok("apply", "-f", one, "--prune", "-l", label, allow)
    t.expect_lines(r, ["configmap/p1 unchanged", "configmap/p2 pruned"])
    t.absent("cm", "p2")
    t.ok("get", "cm", "p1", "outsider")
    # without an allowlist kubectl uses its default list of kinds, which includes configmaps
    t.ok("apply", "-f", both, "-l", label)
    r = t.ok("apply", "-f", one, "--prune", "-l", label)
    t.expect_in("configmap/p2 pruned", r.out, "stdout", r)
    t.absent("cm", "p2")


@scenario("diff")
def s_diff(t):
    if shutil.which("diff") is None:
        raise Failed("`kubectl diff` needs the `diff` program, which is not on PATH")
    path = t.file("v1.json", configmap("d1", {"k": "v1", "same": "s"}))
    t.ok("apply", "-f", path)
    r = t.k("diff", "-f", path)
    t.expect(r.code == 0, "`kubectl diff` of an unchanged object exits 0", r)
    t.expect_equal(r.out, "", "diff output of an unchanged object", r)

    changed = t.file("v2.json", configmap("d1", {"k": "v2", "same": "s"}))
    r = t.k("diff", "-f", changed)
    t.expect(r.code == 1, "`kubectl diff` of a changed object exits 1", r)
    lines = r.out.split("\n")
    t.expect("-  k: v1" in lines and "+  k: v2" in lines, "diff shows -  k: v1 and +  k: v2", r)
    t.expect(not any(l.startswith(("-", "+")) and "same" in l for l in lines), "diff leaves unchanged keys alone", r)
    t.expect(not any(l.startswith(("-", "+")) and ("resourceVersion" in l or "generation" in l or "managedFields" in l) for l in lines),
             "a dry run does not change resourceVersion, generation or managedFields", r)
    t.expect_equal(t.jsonpath("cm", "d1", "{.data.k}"), "v1", "data after diff (dry run only)")

    # a new object: everything is added
    new = t.file("new.json", configmap("d2", {"fresh": "yes"}))
    r = t.k("diff", "-f", new)
    t.expect(r.code == 1, "`kubectl diff` of a new object exits 1", r)
    t.expect("+  fresh: \"yes\"" in r.out.split("\n") or "+  fresh: 'yes'" in r.out.split("\n"), "diff shows the new key", r)
    t.absent("cm", "d2")

    # server-side diff
    r = t.k("diff", "--server-side", "-f", changed)
    t.expect(r.code == 1 and "+  k: v2" in r.out.split("\n"), "server-side diff shows the change", r)

    # an error is > 1
    r = t.k("diff", "-f", t.file("bad.json", {"apiVersion": "v1", "kind": "Nope", "metadata": {"name": "x"}}))
    t.expect(isinstance(r.code, int) and r.code > 1, "`kubectl diff` exits > 1 on an error", r)


@scenario("edit")
def s_edit(t):
    editor = t.file("editor.sh", "#!/bin/sh\n# rewrites the file kubectl edit hands over\nexec sed -i -e \"$SED_EXPR\" \"$1\"\n")
    os.chmod(editor, 0o755)
    t.ok("create", "configmap", "e1", "--from-literal=k=v1")
    r = t.ok("edit", "configmap", "e1", env={"KUBE_EDITOR": editor, "SED_EXPR": "s/^  k: v1$/  k: edited/"})
    t.expect_lines(r, ["configmap/e1 edited"])
    t.expect_equal(t.jsonpath("cm", "e1", "{.data.k}"), "edited", "data after edit")

    r = t.ok("edit", "configmap", "e1", env={"EDITOR": editor, "SED_EXPR": "s/^NOTHING MATCHES$//"})
    t.expect_in("Edit cancelled, no changes made.", r.out + r.err, "output", r)

    t.ok("create", "deployment", "e2", "--image=nginx:1.25")
    r = t.ok("edit", "deployment/e2", env={"KUBE_EDITOR": editor, "SED_EXPR": "s/image: nginx:1.25/image: nginx:1.26/"})
    t.expect_lines(r, ["deployment.apps/e2 edited"])
    t.expect_equal(t.jsonpath("deploy", "e2", "{.spec.template.spec.containers[0].image}"), "nginx:1.26", "image after edit")
    # edit -o json with a JSON editor buffer
    r = t.ok("edit", "configmap", "e1", "--output-patch", "-o", "json", env={"KUBE_EDITOR": editor, "SED_EXPR": 's/"k": "edited"/"k": "json"/'})
    t.expect_in('Patch: {"data":{"k":"json"}}', r.out, "stdout of edit --output-patch", r)
    t.expect_equal(t.jsonpath("cm", "e1", "{.data.k}"), "json", "data after a JSON edit")


def settle(t, kind, name, timeout=20):
    """Waits until the controller has caught up with the object (status.observedGeneration is
    metadata.generation) and nothing writes it for half a second: kubectl says "(no change)"
    only when the object it read before patching equals the patched one, so a status write in
    between would make it say "patched"."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        obj = t.get_json(kind, name)
        meta, status = obj["metadata"], obj.get("status", {})
        now = (meta["resourceVersion"], status.get("observedGeneration"), meta.get("generation"))
        if now == last and now[1] == now[2]:
            return
        last = now
        time.sleep(0.5)
    t.expect(False, f"{kind}/{name} did not settle: {last}")


@scenario("patch")
def s_patch(t):
    containers = [{"name": "web", "image": "nginx:1.25"}, {"name": "side", "image": "busybox:1.36"}]
    t.ok("apply", "-f", t.file("dep.json", deployment("d1", containers=containers)))

    def containers_of():
        return [(c["name"], c["image"]) for c in t.get_json("deploy", "d1")["spec"]["template"]["spec"]["containers"]]

    r = t.ok("patch", "deployment", "d1", "-p", '{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:1.26"}]}}}}')
    t.expect_lines(r, ["deployment.apps/d1 patched"])
    t.expect_equal(containers_of(), [("web", "nginx:1.26"), ("side", "busybox:1.36")], "containers after a strategic merge patch (merged by name)")
    r = t.ok("patch", "deployment", "d1", "--type=strategic", "-p", '{"spec":{"template":{"spec":{"containers":[{"name":"side","$patch":"delete"}]}}}}')
    t.expect_equal(containers_of(), [("web", "nginx:1.26")], "containers after a strategic $patch: delete")
    settle(t, "deploy", "d1")
    r = t.ok("patch", "deployment", "d1", "--type=strategic", "-p", '{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:1.26"}]}}}}')
    t.expect_lines(r, ["deployment.apps/d1 patched (no change)"])

    r = t.ok("patch", "deployment", "d1", "--type=merge", "-p", '{"spec":{"replicas":3,"template":{"spec":{"containers":[{"name":"only","image":"redis:7"}]}}}}')
    t.expect_lines(r, ["deployment.apps/d1 patched"])
    t.expect_equal(containers_of(), [("only", "redis:7")], "containers after a merge patch (list replaced)")
    t.expect_equal(t.jsonpath("deploy", "d1", "{.spec.replicas}"), "3", "replicas after a merge patch")

    r = t.ok("patch", "deployment", "d1", "--type=json", "-p",
             '[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"redis:7.2"},'
             '{"op":"add","path":"/metadata/labels/patched","value":"json"}]')
    t.expect_lines(r, ["deployment.apps/d1 patched"])
    t.expect_equal(containers_of(), [("only", "redis:7.2")], "containers after a JSON patch")
    t.expect_equal(t.jsonpath("deploy", "d1", "{.metadata.labels.patched}"), "json", "label added by a JSON patch")

    t.ok("create", "configmap", "c1", "--from-literal=a=1", "--from-literal=b=2")
    r = t.ok("patch", "configmap", "c1", "-p", '{"data":{"c":"3"}}')
    t.expect_lines(r, ["configmap/c1 patched"])
    r = t.ok("patch", "configmap", "c1", "--type=merge", "-p", '{"data":{"a":null,"b":"two"}}')
    t.expect_lines(r, ["configmap/c1 patched"])
    r = t.ok("patch", "configmap", "c1", "--type=json", "-p", '[{"op":"remove","path":"/data/c"},{"op":"add","path":"/data/d","value":"4"}]')
    t.expect_lines(r, ["configmap/c1 patched"])
    t.expect_equal(t.get_json("cm", "c1").get("data"), {"b": "two", "d": "4"}, "configmap data after the three patches")
    # a patch from a file
    r = t.ok("patch", "configmap", "c1", "--type=merge", "--patch-file", t.file("p.json", {"data": {"e": "5"}}))
    t.expect_equal(t.jsonpath("cm", "c1", "{.data.e}"), "5", "data after --patch-file")
    # a JSON patch whose test fails changes nothing
    r = t.fails("patch", "configmap", "c1", "--type=json", "-p", '[{"op":"test","path":"/data/b","value":"nope"},{"op":"remove","path":"/data/b"}]')
    t.expect_equal(t.jsonpath("cm", "c1", "{.data.b}"), "two", "data after a failed JSON patch test")
    r = t.fails("patch", "configmap", "nope", "-p", '{"data":{"a":"1"}}')
    t.expect_err_line(r, 'Error from server (NotFound): configmaps "nope" not found')


@scenario("label-annotate")
def s_label_annotate(t):
    t.ok("create", "configmap", "l1")
    t.ok("create", "configmap", "l2")
    r = t.ok("label", "configmap", "l1", "a=1")
    t.expect_lines(r, ["configmap/l1 labeled"])
    r = t.fails("label", "configmap", "l1", "a=2")
    t.expect_err_line(r, "error: 'a' already has a value (1), and --overwrite is false")
    t.expect_equal(t.jsonpath("cm", "l1", "{.metadata.labels.a}"), "1", "label after a refused overwrite")
    r = t.ok("label", "configmap", "l1", "a=2", "--overwrite")
    t.expect_lines(r, ["configmap/l1 labeled"])
    t.expect_equal(t.jsonpath("cm", "l1", "{.metadata.labels.a}"), "2", "label after --overwrite")
    r = t.ok("label", "configmap", "l1", "a-")
    t.expect_lines(r, ["configmap/l1 unlabeled"])
    t.expect_equal(t.jsonpath("cm", "l1", "{.metadata.labels}"), "", "labels after removal")
    r = t.ok("label", "configmap", "--all", "team=x")
    t.expect({"configmap/l1 labeled", "configmap/l2 labeled"} <= set(r.out.strip().split("\n")), "label --all", r)
    r = t.ok("label", "configmap", "-l", "team=x", "tier=y")
    t.expect({"configmap/l1 labeled", "configmap/l2 labeled"} <= set(r.out.strip().split("\n")), "label -l", r)
    r = t.ok("get", "cm", "-l", "team=x,tier=y", "-o", "name")
    # `--all` also labeled the namespace's kube-root-ca.crt, as it would upstream.
    t.expect_lines(r, ["configmap/kube-root-ca.crt", "configmap/l1", "configmap/l2"])

    r = t.ok("annotate", "configmap", "l1", "note=first", "other=o")
    # kubectl 1.27 prints "annotate" where later versions print "annotated" (its own wording).
    annotated = "configmap/l1 annotate" if t.minor == 27 else "configmap/l1 annotated"
    t.expect_lines(r, [annotated])
    r = t.fails("annotate", "configmap", "l1", "note=second")
    t.expect_in("--overwrite is false but found the following declared annotation(s): 'note' already has a value (first)", r.err, "stderr", r)
    r = t.ok("annotate", "configmap", "l1", "note=second", "--overwrite")
    t.expect_lines(r, [annotated])
    t.expect_equal(t.jsonpath("cm", "l1", "{.metadata.annotations.note}"), "second", "annotation after --overwrite")
    r = t.ok("annotate", "configmap", "l1", "note-")
    t.expect_lines(r, [annotated])
    ann = t.get_json("cm", "l1")["metadata"].get("annotations", {})
    t.expect_equal(ann, {"other": "o"}, "annotations after removing note")


@scenario("scale")
def s_scale(t):
    t.ok("create", "deployment", "sc", "--image=nginx:1.25")
    r = t.ok("scale", "deployment", "sc", "--replicas=3")
    t.expect_lines(r, ["deployment.apps/sc scaled"])
    t.expect_equal(t.jsonpath("deploy", "sc", "{.spec.replicas}"), "3", "spec.replicas after scale")
    r = t.fails("scale", "deployment/sc", "--current-replicas=1", "--replicas=5")
    t.expect_err_line(r, "error: Expected replicas to be 1, was 3")
    t.expect_equal(t.jsonpath("deploy", "sc", "{.spec.replicas}"), "3", "spec.replicas after a refused scale")
    r = t.ok("scale", "deployment/sc", "--current-replicas=3", "--replicas=0")
    t.expect_lines(r, ["deployment.apps/sc scaled"])
    t.expect_equal(t.jsonpath("deploy", "sc", "{.spec.replicas}"), "0", "spec.replicas after scale to 0")
    raw = t.ok("get", "--raw", "/apis/apps/v1/namespaces/%s/deployments/sc/scale" % t.ns).out
    scale = json.loads(raw)
    t.expect_equal((scale.get("apiVersion"), scale.get("kind")), ("autoscaling/v1", "Scale"), "scale subresource kind")
    t.expect_equal(scale.get("spec", {}).get("replicas"), 0, "scale subresource spec.replicas")
    t.expect_equal(scale.get("status", {}).get("selector"), "app=sc", "scale subresource status.selector")
    # several objects by label
    t.ok("create", "deployment", "sc2", "--image=nginx:1.25")
    t.ok("label", "deployment", "sc", "sc2", "group=g")
    r = t.ok("scale", "deployment", "-l", "group=g", "--replicas=2")
    t.expect_lines(r, ["deployment.apps/sc scaled", "deployment.apps/sc2 scaled"])
    t.expect_equal(t.ok("get", "deploy", "-l", "group=g", "-o", "jsonpath={.items[*].spec.replicas}").out, "2 2", "replicas of both")


@scenario("replace")
def s_replace(t):
    t.ok("create", "configmap", "r1", "--from-literal=k=v1")
    obj = t.get_json("cm", "r1")
    uid = obj["metadata"]["uid"]
    obj["data"]["k"] = "v2"
    path = t.file("r1.json", obj)
    r = t.ok("replace", "-f", path)
    t.expect_lines(r, ["configmap/r1 replaced"])
    after = t.get_json("cm", "r1")
    t.expect_equal((after["data"], after["metadata"]["uid"]), ({"k": "v2"}, uid), "data and uid after replace")

    # without resourceVersion: unconditional
    obj = configmap("r1", {"k": "v3"})
    r = t.ok("replace", "-f", t.file("r1-norv.json", obj))
    t.expect_lines(r, ["configmap/r1 replaced"])
    t.expect_equal(t.jsonpath("cm", "r1", "{.data.k}"), "v3", "data after replace without resourceVersion")

    # --force deletes and re-creates: a new uid
    obj = configmap("r1", {"k": "forced"})
    r = t.ok("replace", "--force", "-f", t.file("r1-force.json", obj))
    lines = [l for l in r.out.split("\n") if l.strip()]
    t.expect(len(lines) == 2, "replace --force prints two lines", r)
    t.expect_match(t.deleted("configmap", "r1"), lines[0], "first line of replace --force", r)
    t.expect_equal(lines[1], "configmap/r1 replaced", "second line of replace --force", r)
    after = t.get_json("cm", "r1")
    t.expect(after["metadata"]["uid"] != uid and after["data"] == {"k": "forced"}, "replace --force made a new object")

    # a deployment: change the image
    t.ok("create", "deployment", "d1", "--image=nginx:1.25")
    dep = t.get_json("deploy", "d1")
    dep["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.26"
    # The Deployment controller writes its status meanwhile: replace without a
    # resourceVersion (unconditionally), or kubectl would rightly report a conflict.
    del dep["metadata"]["resourceVersion"]
    r = t.ok("replace", "-f", t.file("d1.json", dep))
    t.expect_lines(r, ["deployment.apps/d1 replaced"])
    t.expect_equal(t.jsonpath("deploy", "d1", "{.spec.template.spec.containers[0].image}"), "nginx:1.26", "image after replace")
    r = t.fails("replace", "-f", t.file("missing.json", configmap("missing", {"a": "b"})))
    t.expect_err_line(r, 'Error from server (NotFound): error when replacing "%s": configmaps "missing" not found' % os.path.join(t.dir, "missing.json"))


@scenario("delete")
def s_delete(t):
    t.ok("create", "configmap", "d1")
    r = t.ok("delete", "configmap", "d1")
    t.expect_deleted(r, "configmap", "d1")
    t.absent("cm", "d1")

    t.ok("create", "deployment", "dep", "--image=nginx:1.25")
    r = t.ok("delete", "deployment", "dep", "--wait=true", timeout=90)
    t.expect_deleted(r, "deployment.apps", "dep")
    t.absent("deploy", "dep")

    t.ok("create", "configmap", "nw")
    r = t.ok("delete", "configmap/nw", "--wait=false")
    t.expect_deleted(r, "configmap", "nw")
    t.eventually("configmap nw deleted", lambda: t.absent("cm", "nw") or True)

    # -l deletes only what matches; --all deletes the rest
    for name, lab in (("a", "x=1"), ("b", "x=1"), ("c", "x=2")):
        t.ok("create", "configmap", name)
        t.ok("label", "configmap", name, lab)
    r = t.ok("delete", "configmap", "-l", "x=1")
    lines = sorted(l for l in r.out.split("\n") if l.strip())
    t.expect(len(lines) == 2 and re.match(t.deleted("configmap", "a"), lines[0]) and re.match(t.deleted("configmap", "b"), lines[1]),
             "delete -l deleted a and b", r)
    t.ok("get", "cm", "c")
    t.ok("create", "configmap", "e")
    r = t.ok("delete", "configmap", "--all")
    for name in ("c", "e"):
        t.expect(any(re.match(t.deleted("configmap", name), l) for l in r.out.split("\n")), "delete --all deleted %s" % name, r)
    r = t.ok("get", "cm", "-l", "!kube-root", "-o", "name")
    t.expect(not {"configmap/c", "configmap/e"} & set(r.out.split()), "nothing of ours left after delete --all", r)

    # delete -f, and --ignore-not-found
    path = t.file("two.json", manifest_list(configmap("f1"), configmap("f2")))
    t.ok("create", "-f", path)
    r = t.ok("delete", "-f", path)
    lines = [l for l in r.out.split("\n") if l.strip()]
    t.expect(len(lines) == 2 and re.match(t.deleted("configmap", "f1"), lines[0]) and re.match(t.deleted("configmap", "f2"), lines[1]),
             "delete -f deleted f1 and f2", r)
    r = t.fails("delete", "configmap", "f1")
    t.expect_err_line(r, 'Error from server (NotFound): configmaps "f1" not found')
    r = t.ok("delete", "configmap", "f1", "--ignore-not-found")
    t.expect_equal(r.out.strip(), "", "delete --ignore-not-found output", r)

    # an object held by a finalizer: delete marks it, and it goes when the finalizer is removed
    t.ok("create", "-f", t.file("fin.json", configmap("fin", {"a": "1"}, finalizers=["example.com/hold"])))
    r = t.ok("delete", "configmap", "fin", "--wait=false")
    t.expect_deleted(r, "configmap", "fin")
    obj = t.get_json("cm", "fin")
    t.expect(obj["metadata"].get("deletionTimestamp"), "a finalized object being deleted has a deletionTimestamp")
    r = t.fails("delete", "configmap", "fin", "--timeout=2s")
    t.ok("get", "cm", "fin")
    waiter = t.background("wait", "--for=delete", "configmap/fin", "--timeout=30s")
    time.sleep(1)
    t.ok("patch", "configmap", "fin", "--type=merge", "-p", '{"metadata":{"finalizers":null}}')
    r = waiter.finish(timeout=40)
    t.expect(r.code == 0 and "configmap/fin condition met" in r.out, "`wait --for=delete` returns once the finalizer is removed", r)
    t.absent("cm", "fin")


# --------------------------------------------------------------------------------------------
# Scenarios: create generators, explain, wait, dry runs
# --------------------------------------------------------------------------------------------


@scenario("create-generators")
def s_create_generators(t):
    with open(os.path.join(t.dir, "key.txt"), "w") as f:
        f.write("from a file\n")
    cases = [
        (["create", "configmap", "c1", "--from-literal=a=1", "--from-file=file=" + os.path.join(t.dir, "key.txt")], "configmap/c1 created"),
        (["create", "secret", "generic", "s1", "--from-literal=password=s3cret"], "secret/s1 created"),
        (["create", "secret", "docker-registry", "s2", "--docker-server=r.example", "--docker-username=u", "--docker-password=p"], "secret/s2 created"),
        (["create", "deployment", "d1", "--image=nginx:1.25", "--replicas=2", "--port=80"], "deployment.apps/d1 created"),
        (["create", "service", "clusterip", "svc1", "--tcp=80:8080"], "service/svc1 created"),
        (["create", "service", "clusterip", "headless", "--clusterip=None"], "service/headless created"),
        (["create", "service", "nodeport", "np1", "--tcp=80:8080"], "service/np1 created"),
        (["create", "job", "j1", "--image=busybox:1.36", "--", "echo", "hi"], "job.batch/j1 created"),
        (["create", "cronjob", "cj1", "--image=busybox:1.36", "--schedule=*/5 * * * *", "--", "echo", "hi"], "cronjob.batch/cj1 created"),
        (["create", "job", "j2", "--from=cronjob/cj1"], "job.batch/j2 created"),
        (["create", "serviceaccount", "sa1"], "serviceaccount/sa1 created"),
        (["create", "role", "r1", "--verb=get,list", "--resource=pods,configmaps"], "role.rbac.authorization.k8s.io/r1 created"),
        (["create", "rolebinding", "rb1", "--role=r1", "--serviceaccount=%s:sa1" % t.ns, "--user=alice"], "rolebinding.rbac.authorization.k8s.io/rb1 created"),
        (["create", "quota", "q1", "--hard=pods=10,configmaps=5"], "resourcequota/q1 created"),
        (["create", "poddisruptionbudget", "pdb1", "--selector=app=d1", "--min-available=1"], "poddisruptionbudget.policy/pdb1 created"),
        (["create", "ingress", "ing1", "--rule=example.com/=svc1:80"], "ingress.networking.k8s.io/ing1 created"),
    ]
    for argv, want in cases:
        r = t.ok(*argv)
        t.expect_lines(r, [want])

    # cluster-scoped ones, named after the namespace to stay unique, deleted at the end
    pc, cr, crb, extra_ns = "pc-" + t.ns, "cr-" + t.ns, "crb-" + t.ns, t.ns + "-extra"
    t.cleanups.append(lambda: t.kubectl.run(["delete", "priorityclass", pc, "--ignore-not-found"]))
    t.cleanups.append(lambda: t.kubectl.run(["delete", "clusterrole", cr, "--ignore-not-found"]))
    t.cleanups.append(lambda: t.kubectl.run(["delete", "clusterrolebinding", crb, "--ignore-not-found"]))
    t.cleanups.append(lambda: t.kubectl.run(["delete", "namespace", extra_ns, "--wait=false", "--ignore-not-found"]))
    for argv, want in [
        (["create", "priorityclass", pc, "--value=1000", "--description=suite"], "priorityclass.scheduling.k8s.io/%s created" % pc),
        (["create", "clusterrole", cr, "--verb=get", "--resource=nodes"], "clusterrole.rbac.authorization.k8s.io/%s created" % cr),
        (["create", "clusterrolebinding", crb, "--clusterrole=" + cr, "--group=g1"], "clusterrolebinding.rbac.authorization.k8s.io/%s created" % crb),
        (["create", "namespace", extra_ns], "namespace/%s created" % extra_ns),
    ]:
        r = t.ok(*argv, namespaced=False)
        t.expect_lines(r, [want])

    # what was stored
    cm = t.get_json("cm", "c1")
    t.expect_equal(cm.get("data"), {"a": "1", "file": "from a file\n"}, "configmap data")
    s = t.get_json("secret", "s1")
    t.expect_equal((s.get("type"), s.get("data")), ("Opaque", {"password": base64.b64encode(b"s3cret").decode()}), "secret type and data")
    t.expect_equal(t.jsonpath("secret", "s2", "{.type}"), "kubernetes.io/dockerconfigjson", "docker-registry secret type")
    d = t.get_json("deploy", "d1")
    t.expect_equal(d["spec"]["selector"], {"matchLabels": {"app": "d1"}}, "deployment selector")
    c = d["spec"]["template"]["spec"]["containers"][0]
    t.expect_equal((c["name"], c["image"], c.get("ports")), ("nginx", "nginx:1.25", [{"containerPort": 80, "protocol": "TCP"}]), "deployment container")
    t.expect_equal((d["spec"]["replicas"], d["spec"]["strategy"]["type"]), (2, "RollingUpdate"), "deployment replicas and defaulted strategy")
    svc = t.get_json("svc", "svc1")
    spec = svc["spec"]
    t.expect_equal((spec["type"], spec["ports"][0]["port"], spec["ports"][0]["targetPort"], spec["ports"][0]["protocol"]),
                   ("ClusterIP", 80, 8080, "TCP"), "service spec")
    try:
        ipaddress.ip_address(spec.get("clusterIP", ""))
    except ValueError:
        raise Failed("service clusterIP %r is not an address" % spec.get("clusterIP"))
    t.expect_equal(spec.get("clusterIPs"), [spec["clusterIP"]], "service clusterIPs")
    t.expect_equal((spec.get("ipFamilies"), spec.get("ipFamilyPolicy")), (["IPv4"], "SingleStack"), "service ipFamilies/ipFamilyPolicy")
    t.expect_equal(t.jsonpath("svc", "headless", "{.spec.clusterIP}"), "None", "headless service clusterIP")
    np = t.get_json("svc", "np1")["spec"]["ports"][0].get("nodePort", 0)
    t.expect(30000 <= np <= 32767, "nodePort %r allocated in 30000-32767" % np)
    j = t.get_json("job", "j1")
    c = j["spec"]["template"]["spec"]["containers"][0]
    t.expect_equal((c["image"], c.get("command")), ("busybox:1.36", ["echo", "hi"]), "job container")
    t.expect_equal(j["spec"]["template"]["spec"].get("restartPolicy"), "Never", "job restartPolicy")
    cj = t.get_json("cronjob", "cj1")
    t.expect_equal(cj["spec"]["schedule"], "*/5 * * * *", "cronjob schedule")
    j2 = t.get_json("job", "j2")
    t.expect_equal([o.get("kind") for o in j2["metadata"].get("ownerReferences", [])], ["CronJob"], "job from cronjob is owned by it")
    role = t.get_json("role", "r1")
    t.expect_equal(role.get("rules"), [{"apiGroups": [""], "resources": ["pods", "configmaps"], "verbs": ["get", "list"]}], "role rules")
    rb = t.get_json("rolebinding", "rb1")
    t.expect_equal(rb.get("roleRef"), {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r1"}, "rolebinding roleRef")
    t.expect_equal(sorted((s["kind"], s["name"]) for s in rb.get("subjects", [])), [("ServiceAccount", "sa1"), ("User", "alice")], "rolebinding subjects")
    t.expect_equal(t.get_json("quota", "q1")["spec"]["hard"], {"pods": "10", "configmaps": "5"}, "quota hard")
    pcj = t.get_json("priorityclass", pc, namespaced=False)
    t.expect_equal((pcj.get("value"), pcj.get("description"), pcj.get("preemptionPolicy")), (1000, "suite", "PreemptLowerPriority"), "priorityclass")
    t.expect_equal(t.get_json("ns", extra_ns, namespaced=False).get("status", {}).get("phase"), "Active", "new namespace phase")
    r = t.ok("get", "sa,role,rolebinding,quota,job,cronjob", "-o", "name")
    for name in ("serviceaccount/sa1", "role.rbac.authorization.k8s.io/r1", "rolebinding.rbac.authorization.k8s.io/rb1",
                 "resourcequota/q1", "job.batch/j1", "job.batch/j2", "cronjob.batch/cj1"):
        t.expect(name in r.out.split(), "%s listed" % name, r)
    # -o yaml --dry-run=client prints without creating
    r = t.ok("create", "configmap", "nope", "--from-literal=a=b", "--dry-run=client", "-o", "yaml")
    t.expect("kind: ConfigMap" in r.out.split("\n") and "  name: nope" in r.out.split("\n"), "dry-run yaml", r)
    t.absent("cm", "nope")


@scenario("explain", namespace=False)
def s_explain(t):
    r = t.ok("explain", "deployment.spec.strategy", namespaced=False)
    t.expect_match(r"^KIND:\s+Deployment$", r.out, "explain output", r)
    # 1.28+ always print the OpenAPI v3 template; 1.27 prints it when /openapi/v3 is served
    # (its fallback, the v2 layout, says "VERSION: apps/v1" and "RESOURCE: strategy <Object>")
    if t.minor >= 28 or r.out.startswith("GROUP:"):
        t.expect_match(r"^GROUP:\s+apps$", r.out, "explain output", r)
        t.expect_match(r"^VERSION:\s+v1$", r.out, "explain output", r)
        t.expect_match(r"^FIELD:\s+strategy <DeploymentStrategy>$", r.out, "explain output", r)
    else:
        t.expect_match(r"^VERSION:\s+apps/v1$", r.out, "explain output", r)
        t.expect_match(r"^(RESOURCE|FIELD):\s+strategy <Object>$", r.out, "explain output", r)
    t.expect_match(r"^DESCRIPTION:$", r.out, "explain output", r)
    t.expect_in("The deployment strategy to use to replace existing pods with new ones.", r.out, "explain output", r)
    t.expect_match(r"^FIELDS:$", r.out, "explain output", r)
    t.expect_match(r"^\s+rollingUpdate\t<\w+>$", r.out, "explain output", r)
    t.expect_match(r"^\s+type\t<string>$", r.out, "explain output", r)
    t.expect_in("Recreate", r.out, "explain output", r)

    r = t.ok("explain", "pods.spec.containers", namespaced=False)
    t.expect_match(r"^KIND:\s+Pod$", r.out, "explain output", r)
    t.expect_in("List of containers belonging to the pod.", r.out, "explain output", r)
    t.expect_match(r"^\s+name\t<string>( -required-)?$", r.out, "explain output", r)
    t.expect_match(r"^\s+image\t<string>$", r.out, "explain output", r)
    t.expect_match(r"^\s+ports\t<\[\]\w+>$", r.out, "explain output", r)
    t.expect_in("Container image name.", r.out, "explain output", r)

    r = t.ok("explain", "configmaps", namespaced=False)
    t.expect_match(r"^KIND:\s+ConfigMap$", r.out, "explain output", r)
    t.expect_match(r"^\s+data\t<map\[string\]string>$", r.out, "explain output", r)
    r = t.fails("explain", "deployment.spec.nope", namespaced=False)
    t.expect_in('field "nope" does not exist', r.err, "stderr", r)


@scenario("wait")
def s_wait(t):
    t.ok("create", "deployment", "w", "--image=nginx:1.25", "--replicas=0")
    cond = '{"status":{"conditions":[{"type":"Example","status":"True","reason":"Suite","message":"set by the suite"}]}}'
    r = t.ok("patch", "deployment", "w", "--subresource=status", "-p", cond)
    t.expect_lines(r, ["deployment.apps/w patched"])
    conds = {c["type"]: c for c in t.get_json("deploy", "w").get("status", {}).get("conditions", [])}
    t.expect("Example" in conds and conds["Example"]["status"] == "True", "status condition set through the status subresource")
    r = t.ok("wait", "deployment/w", "--for=condition=Example", "--timeout=20s")
    t.expect_lines(r, ["deployment.apps/w condition met"])
    r = t.ok("wait", "deployment/w", "--for=condition=Example=True", "--timeout=20s")
    t.expect_lines(r, ["deployment.apps/w condition met"])
    r = t.fails("wait", "deployment/w", "--for=condition=Example=False", "--timeout=2s")
    t.expect_err_line(r, "error: timed out waiting for the condition on deployments/w")

    # the status subresource ignores spec, and the main resource ignores status
    settle(t, "deploy", "w")
    r = t.ok("patch", "deployment", "w", "--subresource=status", "--type=merge", "-p", '{"spec":{"replicas":5}}')
    t.expect_lines(r, ["deployment.apps/w patched (no change)"])
    t.expect_equal(t.jsonpath("deploy", "w", "{.spec.replicas}"), "0", "spec.replicas after a status patch")
    r = t.ok("patch", "deployment", "w", "--type=merge", "-p", '{"status":{"conditions":[{"type":"Sneaky","status":"True"}]}}')
    t.expect_lines(r, ["deployment.apps/w patched (no change)"])

    # a waiter that is already waiting sees the condition arrive (watch)
    waiter = t.background("wait", "deployment/w", "--for=condition=Later", "--timeout=30s")
    time.sleep(1.5)
    t.ok("patch", "deployment", "w", "--subresource=status", "-p", '{"status":{"conditions":[{"type":"Later","status":"True","reason":"Suite","message":"m"}]}}')
    r = waiter.finish(timeout=40)
    t.expect(r.code == 0 and r.out.strip() == "deployment.apps/w condition met", "a waiting `kubectl wait` sees the condition", r)
    conds = [c["type"] for c in t.get_json("deploy", "w").get("status", {}).get("conditions", [])]
    t.expect("Example" in conds and "Later" in conds, "strategic merge of status.conditions by type keeps both: %r" % conds)

    # jsonpath
    r = t.ok("wait", "deployment/w", "--for=jsonpath={.spec.replicas}=0", "--timeout=20s")
    t.expect_lines(r, ["deployment.apps/w condition met"])
    if t.kubectl.has_help_text(["wait"], "--for=create"):
        waiter = t.background("wait", "configmap/later", "--for=create", "--timeout=30s")
        time.sleep(1.5)
        t.ok("create", "configmap", "later")
        r = waiter.finish(timeout=40)
        t.expect(r.code == 0 and "configmap/later condition met" in r.out, "`wait --for=create` sees the creation", r)
    if t.kubectl.has_help_text(["wait"], "--for=jsonpath='{.status.loadBalancer.ingress}'"):
        # 1.28+: a jsonpath without a value waits for the field to exist
        r = t.ok("wait", "deployment/w", "--for=jsonpath={.status.conditions}", "--timeout=20s")
        t.expect_lines(r, ["deployment.apps/w condition met"])
    if t.kubectl.has_help_text(["wait"], """jsonpath={.status.conditions[?(@.type=="Ready")].status}=True"""):
        # 1.29+: filter expressions
        r = t.ok("wait", "deployment/w", '--for=jsonpath={.status.conditions[?(@.type=="Later")].status}=True', "--timeout=20s")
        t.expect_lines(r, ["deployment.apps/w condition met"])

    # --for=delete: already gone is fine; a waiter sees the deletion
    t.ok("create", "configmap", "gone")
    waiter = t.background("wait", "configmap/gone", "--for=delete", "--timeout=30s")
    time.sleep(1.5)
    t.ok("delete", "configmap", "gone", "--wait=false")
    r = waiter.finish(timeout=40)
    t.expect(r.code == 0 and r.out.strip() == "configmap/gone condition met", "`wait --for=delete` sees the deletion", r)
    t.ok("create", "configmap", "a", "--from-literal=x=1")
    t.ok("label", "configmap", "a", "grp=w")
    t.ok("create", "configmap", "b")
    t.ok("label", "configmap", "b", "grp=w")
    waiter = t.background("wait", "configmap", "-l", "grp=w", "--for=delete", "--timeout=30s")
    time.sleep(1.5)
    t.ok("delete", "configmap", "-l", "grp=w", "--wait=false")
    r = waiter.finish(timeout=40)
    t.expect(r.code == 0 and sorted(r.out.split("\n")) == ["configmap/a condition met", "configmap/b condition met"],
             "`wait -l --for=delete` reports both", r)


@scenario("dry-run")
def s_dry_run(t):
    r = t.ok("create", "configmap", "dr", "--from-literal=a=1", "--dry-run=server")
    t.expect_lines(r, ["configmap/dr created (server dry run)"])
    t.absent("cm", "dr")
    r = t.ok("create", "configmap", "dr", "--from-literal=a=1", "--dry-run=client")
    t.expect_lines(r, ["configmap/dr created (dry run)"])
    t.absent("cm", "dr")
    r = t.ok("create", "deployment", "dd", "--image=nginx:1.25", "--dry-run=server", "-o", "json")
    obj = json.loads(r.out)
    t.expect_equal(obj.get("spec", {}).get("strategy", {}).get("type"), "RollingUpdate", "a server dry run returns the defaulted object", r)
    t.expect(obj.get("metadata", {}).get("creationTimestamp"), "a server dry run returns creationTimestamp", r)
    t.absent("deploy", "dd")

    path = t.file("cm.json", configmap("da", {"k": "v1"}))
    r = t.ok("apply", "-f", path, "--dry-run=server")
    t.expect_lines(r, ["configmap/da created (server dry run)"])
    t.absent("cm", "da")
    r = t.ok("apply", "-f", path, "--dry-run=client")
    t.expect_lines(r, ["configmap/da created (dry run)"])
    t.absent("cm", "da")
    r = t.ok("apply", "--server-side", "-f", path, "--dry-run=server")
    t.expect_lines(r, ["configmap/da serverside-applied (server dry run)"])
    t.absent("cm", "da")

    t.ok("apply", "-f", path)
    rv = t.jsonpath("cm", "da", "{.metadata.resourceVersion}")
    changed = t.file("cm2.json", configmap("da", {"k": "v2"}))
    r = t.ok("apply", "-f", changed, "--dry-run=server")
    t.expect_lines(r, ["configmap/da configured (server dry run)"])
    r = t.ok("patch", "configmap", "da", "-p", '{"data":{"k":"patched"}}', "--dry-run=server")
    t.expect_match(r"^configmap/da patched( \(server dry run\))?$", r.out.strip(), "patch --dry-run=server output", r)
    r = t.ok("label", "configmap", "da", "x=y", "--dry-run=server")
    t.expect_lines(r, ["configmap/da labeled (server dry run)"])
    obj = t.get_json("cm", "da")
    t.expect_equal((obj["data"], obj["metadata"].get("labels"), obj["metadata"]["resourceVersion"]), ({"k": "v1"}, None, rv),
                   "object unchanged after server dry runs")

    r = t.ok("delete", "configmap", "da", "--dry-run=server")
    t.expect_match(t.deleted("configmap", "da", suffix=" (server dry run)"), r.out.strip(), "delete --dry-run=server output", r)
    t.ok("get", "cm", "da")
    r = t.ok("delete", "configmap", "da", "--dry-run=client")
    t.expect_match(t.deleted("configmap", "da", suffix=" (dry run)"), r.out.strip(), "delete --dry-run=client output", r)
    t.ok("get", "cm", "da")

    t.ok("create", "deployment", "sc", "--image=nginx:1.25")
    r = t.ok("scale", "deployment", "sc", "--replicas=4", "--dry-run=server")
    t.expect_lines(r, ["deployment.apps/sc scaled (server dry run)"])
    t.expect_equal(t.jsonpath("deploy", "sc", "{.spec.replicas}"), "1", "replicas after a dry-run scale")


# --------------------------------------------------------------------------------------------
# Scenarios: errors (the Status table)
# --------------------------------------------------------------------------------------------


@scenario("error-not-found")
def s_error_not_found(t):
    r = t.fails("get", "configmap", "nope", code=1)
    t.expect_lines(r, ['Error from server (NotFound): configmaps "nope" not found'], stream="err")
    t.expect_equal(r.out, "", "stdout", r)
    r = t.fails("get", "deployment", "nope", code=1)
    t.expect_lines(r, ['Error from server (NotFound): deployments.apps "nope" not found'], stream="err")
    r = t.fails("delete", "configmap", "nope", code=1)
    t.expect_lines(r, ['Error from server (NotFound): configmaps "nope" not found'], stream="err")
    r = t.fails("get", "namespace", "nope-" + t.ns, code=1)
    t.expect_lines(r, ['Error from server (NotFound): namespaces "nope-%s" not found' % t.ns], stream="err")
    r = t.fails("create", "configmap", "c", "-n", "missing-" + t.ns, namespaced=False)
    t.expect_lines(r, ['error: failed to create configmap: namespaces "missing-%s" not found' % t.ns], stream="err")
    r = t.ok("get", "configmaps", "-n", "missing-" + t.ns, namespaced=False)
    t.expect_equal(r.err.strip(), "No resources found in missing-%s namespace." % t.ns, "listing in a missing namespace", r)
    # --raw shows the Status body
    r = t.fails("get", "--raw", "/api/v1/namespaces/%s/configmaps/nope" % t.ns)
    t.expect_in('Error from server (NotFound): configmaps "nope" not found', r.err, "stderr", r)


@scenario("error-already-exists")
def s_error_already_exists(t):
    path = t.file("ae.json", configmap("ae", {"a": "1"}))
    r = t.ok("create", "-f", path)
    t.expect_lines(r, ["configmap/ae created"])
    r = t.fails("create", "-f", path, code=1)
    t.expect_lines(r, ['Error from server (AlreadyExists): error when creating "%s": configmaps "ae" already exists' % path], stream="err")
    r = t.fails("create", "configmap", "ae", code=1)
    t.expect_lines(r, ['error: failed to create configmap: configmaps "ae" already exists'], stream="err")
    r = t.fails("create", "namespace", t.ns, code=1, namespaced=False)
    t.expect_lines(r, ['Error from server (AlreadyExists): namespaces "%s" already exists' % t.ns], stream="err")


@scenario("error-conflict")
def s_error_conflict(t):
    t.ok("create", "configmap", "cf", "--from-literal=a=1")
    stale = t.get_json("cm", "cf")
    t.ok("label", "configmap", "cf", "bump=1")
    stale["data"]["a"] = "2"
    path = t.file("stale.json", stale)
    r = t.fails("replace", "-f", path, code=1)
    t.expect_lines(r, ['Error from server (Conflict): error when replacing "%s": Operation cannot be fulfilled on configmaps "cf": '
                       'the object has been modified; please apply your changes to the latest version and try again' % path], stream="err")
    t.expect_equal(t.jsonpath("cm", "cf", "{.data.a}"), "1", "data after the conflict")
    # a patch carrying a stale resourceVersion is a conflict too
    rv = stale["metadata"]["resourceVersion"]
    r = t.fails("patch", "configmap", "cf", "--type=merge", "-p", json.dumps({"metadata": {"resourceVersion": rv}, "data": {"a": "3"}}), code=1)
    t.expect_lines(r, ['Error from server (Conflict): Operation cannot be fulfilled on configmaps "cf": the object has been modified; '
                       'please apply your changes to the latest version and try again'], stream="err")


@scenario("error-invalid")
def s_error_invalid(t):
    dep = deployment("inv", replicas=-1)
    path = t.file("inv.json", dep)
    r = t.fails("create", "-f", path, code=1)
    t.expect_lines(r, ['The Deployment "inv" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0'], stream="err")
    t.absent("deploy", "inv")
    r = t.fails("apply", "-f", path, code=1)
    t.expect_err_line(r, 'The Deployment "inv" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0')

    # two causes: one line each
    dep = deployment("inv2", replicas=-1, containers=[{"name": "c"}])
    path2 = t.file("inv2.json", dep)
    r = t.fails("create", "-f", path2, code=1)
    lines = [l.rstrip() for l in r.err.split("\n") if l.strip()]
    t.expect(lines[:1] == ['The Deployment "inv2" is invalid: '.rstrip()], "first stderr line of a two-cause Invalid", r)
    t.expect("* spec.replicas: Invalid value: -1: must be greater than or equal to 0" in lines, "cause line for spec.replicas", r)
    t.expect("* spec.template.spec.containers[0].image: Required value" in lines, "cause line for the missing image", r)

    r = t.fails("create", "configmap", "Bad_Name", code=1)
    t.expect_in('error: failed to create configmap: ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": '
                'a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters', r.err, "stderr", r)
    r = t.fails("create", "-f", t.file("bad.json", configmap("Bad_Name", {"a": "b"})), code=1)
    t.expect_in('The ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain', r.err, "stderr", r)
    r = t.fails("create", "-f", t.file("badkey.json", configmap("badkey", {"bad key!": "b"})), code=1)
    t.expect_in('The ConfigMap "badkey" is invalid: data[bad key!]: Invalid value: "bad key!": a valid config key must consist of alphanumeric characters', r.err, "stderr", r)
    # an update that makes the object invalid
    t.ok("create", "deployment", "ok", "--image=nginx:1.25")
    r = t.fails("patch", "deployment", "ok", "--type=merge", "-p", '{"spec":{"replicas":-2}}', code=1)
    t.expect_lines(r, ['The Deployment "ok" is invalid: spec.replicas: Invalid value: -2: must be greater than or equal to 0'], stream="err")
    r = t.fails("scale", "deployment", "ok", "--replicas=-1")
    t.expect_in("The --replicas=COUNT flag is required, and COUNT must be greater than or equal to 0", r.err, "stderr", r)

    # strict field validation (kubectl asks for fieldValidation=Strict)
    bad = configmap("strict", {"a": "b"})
    bad["foo"] = "bar"
    path = t.file("strict.json", bad)
    r = t.fails("create", "-f", path, code=1)
    t.expect_lines(r, ['Error from server (BadRequest): error when creating "%s": ConfigMap in version "v1" cannot be handled as a ConfigMap: '
                       'strict decoding error: unknown field "foo"' % path], stream="err")
    t.absent("cm", "strict")


@scenario("error-unauthorized")
def s_error_unauthorized(t):
    bogus = t.token_kubeconfig("bogus.json", "bogus-token")
    # With the discovery cache warm (it is shared by every kubeconfig of the same server),
    # kubectl prints the message of the 401 Status.
    t.ok("get", "configmaps")
    r = t.fails("get", "configmaps", kubeconfig=bogus, code=1)
    t.expect_err_line(r, "error: You must be logged in to the server (Unauthorized)")
    # With a cold cache the 401 comes from discovery, and kubectl words it differently.
    r = t.fails("get", "configmaps", "--cache-dir", os.path.join(t.dir, "cold-cache"), kubeconfig=bogus, code=1)
    t.expect_err_line(r, "error: You must be logged in to the server (the server has asked for the client to provide credentials)")
    r = t.fails("get", "--raw", "/api/v1/namespaces", kubeconfig=bogus, code=1)
    t.expect_err_line(r, "error: You must be logged in to the server (Unauthorized)")
    # a bad token is refused everywhere: it never falls back to anonymous
    r = t.fails("get", "--raw", "/healthz", kubeconfig=bogus, code=1)
    t.expect_err_line(r, "error: You must be logged in to the server (Unauthorized)")



@scenario("error-forbidden", pending="RBAC authorization is not implemented yet")
def s_error_forbidden(t):
    r = t.fails("get", "configmaps", "--as=alice", code=1)
    t.expect_lines(r, ['Error from server (Forbidden): configmaps is forbidden: User "alice" cannot list resource "configmaps" '
                       'in API group "" in the namespace "%s"' % t.ns], stream="err")
    r = t.fails("create", "configmap", "x", "--as=alice", "--as-group=devs", code=1)
    t.expect_in('configmaps is forbidden: User "alice" cannot create resource "configmaps" in API group "" in the namespace "%s"' % t.ns, r.err, "stderr", r)
    r = t.fails("get", "nodes", "--as=alice", code=1, namespaced=False)
    t.expect_lines(r, ['Error from server (Forbidden): nodes is forbidden: User "alice" cannot list resource "nodes" '
                       'in API group "" at the cluster scope'], stream="err")
    r = t.fails("get", "deployment", "x", "--as=alice", code=1)
    t.expect_lines(r, ['Error from server (Forbidden): deployments.apps "x" is forbidden: User "alice" cannot get resource "deployments" '
                       'in API group "apps" in the namespace "%s"' % t.ns], stream="err")
    # after a RoleBinding to the built-in `view` ClusterRole alice may read, not write
    t.ok("create", "rolebinding", "alice-view", "--clusterrole=view", "--user=alice")
    t.eventually("alice can list configmaps", lambda: t.ok("get", "configmaps", "--as=alice") and True)
    r = t.fails("create", "configmap", "x", "--as=alice", code=1)
    t.expect_in("is forbidden", r.err, "stderr", r)


@scenario("error-unknown-resource", namespace=False)
def s_error_unknown_resource(t):
    r = t.fails("get", "foos", code=1, namespaced=False)
    t.expect_lines(r, ['error: the server doesn\'t have a resource type "foos"'], stream="err")
    r = t.fails("delete", "foos", "x", code=1, namespaced=False)
    t.expect_lines(r, ['error: the server doesn\'t have a resource type "foos"'], stream="err")
    r = t.fails("create", "-f", t.file("foo.json", {"apiVersion": "example.com/v1", "kind": "Foo", "metadata": {"name": "x"}}), code=1, namespaced=False)
    t.expect_in('resource mapping not found for name: "x" namespace: "" from "%s": no matches for kind "Foo" in version "example.com/v1"'
                % os.path.join(t.dir, "foo.json"), r.err, "stderr", r)
    r = t.fails("explain", "foos", code=1, namespaced=False)
    t.expect_in('the server doesn\'t have a resource type "foos"', r.err, "stderr", r)


# --------------------------------------------------------------------------------------------
# Scenarios: cluster information, auth, tokens, events, describe, rollout
# --------------------------------------------------------------------------------------------


@scenario("raw-endpoints", namespace=False)
def s_raw_endpoints(t):
    for path in ("/healthz", "/livez", "/readyz"):
        r = t.ok("get", "--raw", path, namespaced=False)
        t.expect_equal(r.out.strip(), "ok", "body of " + path, r)
    r = t.ok("get", "--raw", "/readyz?verbose", namespaced=False)
    t.expect_in("readyz check passed", r.out, "/readyz?verbose", r)
    r = t.ok("get", "--raw", "/version", namespaced=False)
    v = json.loads(r.out)
    t.expect(v.get("major") == "1" and re.match(r"^\d+\+?$", v.get("minor", "")) and v.get("gitVersion", "").startswith("v1."), "/version fields", r)
    t.expect(v.get("platform") and v.get("goVersion") is not None and v.get("buildDate"), "/version platform/goVersion/buildDate", r)
    r = t.ok("get", "--raw", "/api", namespaced=False)
    api = json.loads(r.out)
    t.expect(api.get("kind") == "APIVersions" and "v1" in api.get("versions", []), "/api is APIVersions with v1", r)
    r = t.ok("get", "--raw", "/apis", namespaced=False)
    groups = json.loads(r.out)
    t.expect_equal(groups.get("kind"), "APIGroupList", "/apis kind", r)
    apps = [g for g in groups.get("groups", []) if g.get("name") == "apps"]
    t.expect(apps and apps[0].get("preferredVersion", {}).get("groupVersion") == "apps/v1", "/apis lists apps with preferred apps/v1", r)
    r = t.ok("get", "--raw", "/api/v1/namespaces/default", namespaced=False)
    t.expect_equal(json.loads(r.out).get("kind"), "Namespace", "GET /api/v1/namespaces/default kind", r)
    r = t.fails("get", "--raw", "/nope", namespaced=False)
    t.expect_in("NotFound", r.err, "stderr", r)


@scenario("version", namespace=False)
def s_version(t):
    server = json.loads(t.ok("get", "--raw", "/version", namespaced=False).out)
    r = t.ok("version", namespaced=False)
    t.expect_in("Client Version: ", r.out, "stdout", r)
    t.expect_match(r"^Server Version: ", r.out, "stdout", r)
    t.expect_in(server["gitVersion"], r.out, "stdout", r)
    r = t.ok("version", "-o", "json", namespaced=False)
    v = json.loads(r.out)
    t.expect_equal(v.get("serverVersion", {}).get("gitVersion"), server["gitVersion"], "serverVersion.gitVersion", r)
    t.expect_equal(v.get("clientVersion", {}).get("gitVersion"), t.kubectl.git_version, "clientVersion.gitVersion", r)
    r = t.ok("version", "-o", "yaml", namespaced=False)
    t.expect_in("serverVersion:", r.out, "stdout", r)


@scenario("cluster-info", namespace=False)
def s_cluster_info(t):
    server = json.loads(t.ok("config", "view", "--minify", "-o", "json", namespaced=False).out)["clusters"][0]["cluster"]["server"]
    r = t.ok("cluster-info", namespaced=False)
    plain = re.sub(r"\x1b\[[0-9;]*m", "", r.out)  # kubectl 1.27 colours even a pipe
    lines = [l for l in plain.split("\n") if l.strip()]
    t.expect_equal(lines[0] if lines else "", "Kubernetes control plane is running at " + server, "first line of cluster-info", r)
    t.expect_in("To further debug and diagnose cluster problems, use 'kubectl cluster-info dump'.", plain, "stdout", r)


@scenario("auth-can-i")
def s_auth_can_i(t):
    r = t.ok("auth", "can-i", "create", "deployments")
    t.expect_lines(r, ["yes"])
    r = t.ok("auth", "can-i", "*", "*", namespaced=False)
    t.expect_lines(r, ["yes"])
    r = t.ok("auth", "can-i", "get", "/healthz", namespaced=False)
    t.expect_lines(r, ["yes"])
    r = t.ok("auth", "can-i", "--list")
    header, rows = parse_table(r.out)
    t.expect_equal(header, ["Resources", "Non-Resource URLs", "Resource Names", "Verbs"], "can-i --list header", r)
    t.expect(any(x["Resources"] == "*.*" and x["Verbs"] == "[*]" for x in rows), "can-i --list has *.* [*]", r)
    r = t.k("auth", "can-i", "get", "foos")
    t.expect_in("Warning: the server doesn't have a resource type 'foos'", r.err, "stderr", r)


@scenario("auth-can-i-rbac", pending="RBAC authorization is not implemented yet")
def s_auth_can_i_rbac(t):
    # someone without permissions
    r = t.fails("auth", "can-i", "create", "pods", "--as=nobody", code=1)
    t.expect_lines(r, ["no"])
    r = t.fails("auth", "can-i", "list", "secrets", "--as=system:serviceaccount:%s:nobody" % t.ns, code=1)
    t.expect_lines(r, ["no"])
    # everyone may ask about themselves (system:basic-user) and read the discovery
    r = t.ok("auth", "can-i", "create", "selfsubjectaccessreviews.authorization.k8s.io", "--as=nobody", namespaced=False)
    t.expect_lines(r, ["yes"])
    r = t.ok("auth", "can-i", "get", "/version", "--as=nobody", namespaced=False)
    t.expect_lines(r, ["yes"])


@scenario("auth-whoami")
def s_auth_whoami(t):
    if t.minor < 28:
        # kubectl 1.27 knows only authentication.k8s.io/v1alpha1 and v1beta1, which
        # kube-apiserver 1.35 does not serve by default.
        r = t.fails("auth", "whoami", code=1)
        t.expect_in("the selfsubjectreviews API is not enabled in the cluster", r.err, "stderr", r)
        return
    r = t.ok("auth", "whoami")
    header, rows = parse_table(r.out)
    t.expect_equal(header, ["ATTRIBUTE", "VALUE"], "whoami header", r)
    attrs = {x["ATTRIBUTE"]: x["VALUE"] for x in rows}
    t.expect(attrs.get("Username"), "whoami shows a Username", r)
    t.expect_in("system:authenticated", attrs.get("Groups", ""), "whoami Groups", r)
    r = t.ok("auth", "whoami", "-o", "json")
    review = json.loads(r.out)
    t.expect_equal((review.get("apiVersion"), review.get("kind")), ("authentication.k8s.io/v1", "SelfSubjectReview"), "whoami -o json kind", r)
    info = review.get("status", {}).get("userInfo", {})
    t.expect_equal(info.get("username"), attrs.get("Username"), "username in -o json", r)
    r = t.ok("auth", "whoami", "--as=alice", "--as-group=devs")
    attrs = {x["ATTRIBUTE"]: x["VALUE"] for x in parse_table(r.out)[1]}
    t.expect_equal(attrs.get("Username"), "alice", "whoami --as Username", r)
    t.expect_equal(attrs.get("Groups"), "[devs system:authenticated]", "whoami --as Groups", r)


@scenario("create-token")
def s_create_token(t):
    t.ok("create", "serviceaccount", "sa1")
    r = t.ok("create", "token", "sa1")
    token = r.out.strip()
    t.expect(re.match(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$", token), "create token prints a JWT", r)
    claims = jwt_claims(token)
    t.expect_equal(claims.get("sub"), "system:serviceaccount:%s:sa1" % t.ns, "token subject", r)
    t.expect(isinstance(claims.get("aud"), list) and claims["aud"], "token audiences", r)
    t.expect(3000 <= claims.get("exp", 0) - claims.get("iat", 0) <= 3700, "a token lasts an hour by default", r)
    r = t.ok("create", "token", "sa1", "--duration=10m", "--audience=suite")
    claims = jwt_claims(r.out.strip())
    t.expect_equal((claims.get("exp", 0) - claims.get("iat", 0), claims.get("aud")), (600, ["suite"]), "--duration=10m --audience=suite", r)
    r = t.fails("create", "token", "nope", code=1)
    t.expect_lines(r, ['error: failed to create token: serviceaccounts "nope" not found'], stream="err")

    # the token authenticates as the service account, which may do nothing yet
    kc = t.token_kubeconfig("sa.json", token)
    if t.minor >= 28:
        r = t.ok("auth", "whoami", "-o", "json", kubeconfig=kc)
        info = json.loads(r.out).get("status", {}).get("userInfo", {})
        t.expect_equal(info.get("username"), "system:serviceaccount:%s:sa1" % t.ns, "whoami with the token", r)
        t.expect({"system:serviceaccounts", "system:serviceaccounts:" + t.ns, "system:authenticated"} <= set(info.get("groups", [])),
                 "service account groups", r)
    t.ok("get", "configmaps", kubeconfig=kc)
    # deleting the service account invalidates its tokens
    t.ok("delete", "serviceaccount", "sa1")
    t.eventually("the token stops working", lambda: "Unauthorized" in t.k("get", "configmaps", kubeconfig=kc).err)


@scenario("create-token-rbac", pending="RBAC authorization is not implemented yet")
def s_create_token_rbac(t):
    t.ok("create", "serviceaccount", "sa1")
    kc = t.token_kubeconfig("sa.json", t.ok("create", "token", "sa1").out.strip())
    r = t.fails("get", "configmaps", kubeconfig=kc, code=1)
    t.expect_lines(r, ['Error from server (Forbidden): configmaps is forbidden: User "system:serviceaccount:%s:sa1" cannot list resource '
                       '"configmaps" in API group "" in the namespace "%s"' % (t.ns, t.ns)], stream="err")
    t.ok("create", "rolebinding", "sa1-view", "--clusterrole=view", "--serviceaccount=%s:sa1" % t.ns)
    t.eventually("the service account can list configmaps", lambda: t.ok("get", "configmaps", kubeconfig=kc) and True)


def event_manifest(ns, name, involved, reason, message, etype="Normal"):
    now = now_rfc3339()
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": ns},
        "involvedObject": involved,
        "reason": reason,
        "message": message,
        "type": etype,
        "source": {"component": "scenario-suite"},
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }


@scenario("events")
def s_events(t):
    t.ok("create", "configmap", "evcm")
    uid = t.jsonpath("cm", "evcm", "{.metadata.uid}")
    involved = {"apiVersion": "v1", "kind": "ConfigMap", "name": "evcm", "namespace": t.ns, "uid": uid}
    path = t.file("ev.json", manifest_list(
        event_manifest(t.ns, "evcm.1", involved, "Testing", "hello from the scenario suite"),
        event_manifest(t.ns, "evcm.2", involved, "Trouble", "something looks wrong", "Warning"),
    ))
    r = t.ok("create", "-f", path)
    t.expect_lines(r, ["event/evcm.1 created", "event/evcm.2 created"])

    r = t.ok("get", "events")
    header, rows = parse_table(r.out)
    t.expect_equal(header, ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"], "get events header", r)
    got = sorted((x["TYPE"], x["REASON"], x["OBJECT"], x["MESSAGE"]) for x in rows)
    t.expect_equal(got, [("Normal", "Testing", "configmap/evcm", "hello from the scenario suite"),
                         ("Warning", "Trouble", "configmap/evcm", "something looks wrong")], "get events rows", r)
    r = t.ok("get", "events", "--field-selector", "type=Warning", "-o", "name")
    t.expect_lines(r, ["event/evcm.2"])
    r = t.ok("get", "events", "--field-selector", "involvedObject.kind=ConfigMap,involvedObject.name=evcm,reason=Testing", "-o", "name")
    t.expect_lines(r, ["event/evcm.1"])
    r = t.ok("get", "events.v1.events.k8s.io", "-o", "name")
    t.expect(set(r.out.split()) == {"event.events.k8s.io/evcm.1", "event.events.k8s.io/evcm.2"}, "events.k8s.io/v1 view of the events", r)

    events_cmd = ["events"] if t.kubectl.has_help_text(["events"], "--for") else ["alpha", "events"]
    r = t.ok(*events_cmd)
    header, rows = parse_table(r.out)
    t.expect_equal(header, ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"], "`kubectl events` header", r)
    t.expect_equal(sorted((x["TYPE"], x["REASON"], x["OBJECT"]) for x in rows),
                   [("Normal", "Testing", "ConfigMap/evcm"), ("Warning", "Trouble", "ConfigMap/evcm")], "`kubectl events` rows", r)
    r = t.ok(*events_cmd, "--for", "configmap/evcm", "--types=Warning")
    rows = parse_table(r.out)[1]
    t.expect_equal([(x["TYPE"], x["REASON"], x["MESSAGE"]) for x in rows], [("Warning", "Trouble", "something looks wrong")], "`kubectl events --for --types`", r)

    r = t.ok("describe", "configmap", "evcm")
    t.expect_match(r"^Events:$", r.out, "describe output", r)
    t.expect_match(r"^\s+Normal\s+Testing\s+\S+\s+scenario-suite\s+hello from the scenario suite$", r.out, "describe lists the Normal event", r)
    t.expect_match(r"^\s+Warning\s+Trouble\s+\S+\s+scenario-suite\s+something looks wrong$", r.out, "describe lists the Warning event", r)


@scenario("describe")
def s_describe(t):
    t.ok("create", "configmap", "dc", "--from-literal=k=v")
    t.ok("label", "configmap", "dc", "app=x")
    r = t.ok("describe", "configmap", "dc")
    for pattern in (r"^Name:\s+dc$", r"^Namespace:\s+%s$" % re.escape(t.ns), r"^Labels:\s+app=x$", r"^Annotations:\s+<none>$",
                    r"^Data$", r"^====$", r"^k:$", r"^----$", r"^v$", r"^BinaryData$", r"^Events:\s+<none>$"):
        t.expect_match(pattern, r.out, "describe configmap", r)

    t.ok("apply", "-f", t.file("dep.json", deployment("dd", image="nginx:1.25", replicas=2)))
    r = t.ok("describe", "deployment", "dd")
    for pattern in (r"^Name:\s+dd$", r"^Namespace:\s+%s$" % re.escape(t.ns), r"^CreationTimestamp:\s+\S", r"^Labels:\s+app=dd$",
                    r"^Selector:\s+app=dd$", r"^Replicas:\s+2 desired \| \d+ updated \| \d+ total \| \d+ available \| \d+ unavailable$",
                    r"^StrategyType:\s+RollingUpdate$", r"^MinReadySeconds:\s+0$",
                    r"^RollingUpdateStrategy:\s+25% max unavailable, 25% max surge$",
                    r"^Pod Template:$", r"^\s+Labels:\s+app=dd$", r"^\s+Containers:$", r"^\s+web:$", r"^\s+Image:\s+nginx:1.25$",
                    r"^Events:"):
        t.expect_match(pattern, r.out, "describe deployment", r)
    # describe by label and of several kinds
    r = t.ok("describe", "configmaps", "-l", "app=x")
    t.expect_match(r"^Name:\s+dc$", r.out, "describe -l", r)
    r = t.fails("describe", "configmap", "nope")
    t.expect_in('configmaps "nope" not found', r.err, "stderr", r)


@scenario("rollout")
def s_rollout(t):
    t.ok("create", "deployment", "ro", "--image=nginx:1.25")
    r = t.ok("rollout", "restart", "deployment/ro")
    t.expect_lines(r, ["deployment.apps/ro restarted"])
    ann = t.get_json("deploy", "ro")["spec"]["template"]["metadata"].get("annotations", {})
    stamp = ann.get("kubectl.kubernetes.io/restartedAt", "")
    t.expect(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", stamp), "restartedAt annotation on the pod template: %r" % ann)
    t.expect_equal(t.jsonpath("deploy", "ro", "{.metadata.generation}"), "2", "generation after the restart")
    r = t.ok("rollout", "pause", "deployment/ro")
    t.expect_lines(r, ["deployment.apps/ro paused"])
    t.expect_equal(t.jsonpath("deploy", "ro", "{.spec.paused}"), "true", "spec.paused")
    r = t.fails("rollout", "restart", "deployment/ro")
    t.expect_in("can't restart paused deployment (run rollout resume first)", r.err, "stderr", r)
    r = t.ok("rollout", "resume", "deployment/ro")
    t.expect_lines(r, ["deployment.apps/ro resumed"])
    t.expect_equal(t.jsonpath("deploy", "ro", "{.spec.paused}"), "", "spec.paused after resume")


@scenario("set-image")
def s_set_image(t):
    containers = [{"name": "web", "image": "nginx:1.25"}, {"name": "side", "image": "busybox:1.36"}]
    t.ok("apply", "-f", t.file("dep.json", deployment("si", containers=containers)))
    r = t.ok("set", "image", "deployment/si", "web=nginx:1.26")
    t.expect_lines(r, ["deployment.apps/si image updated"])
    t.expect_equal(t.ok("get", "deploy", "si", "-o", "jsonpath={.spec.template.spec.containers[*].image}").out,
                   "nginx:1.26 busybox:1.36", "images after set image")
    r = t.ok("set", "image", "deployment/si", "*=registry.example/all:1")
    t.expect_lines(r, ["deployment.apps/si image updated"])
    t.expect_equal(t.ok("get", "deploy", "si", "-o", "jsonpath={.spec.template.spec.containers[*].image}").out,
                   "registry.example/all:1 registry.example/all:1", "images after set image *=")
    r = t.fails("set", "image", "deployment/si", "nope=x:1")
    t.expect_in('unable to find container named "nope"', r.err, "stderr", r)
    r = t.ok("set", "env", "deployment/si", "-c", "web", "FOO=bar")
    t.expect_lines(r, ["deployment.apps/si env updated"])
    t.expect_equal(t.jsonpath("deploy", "si", "{.spec.template.spec.containers[0].env}"), '[{"name":"FOO","value":"bar"}]', "env after set env")


@scenario("get-all")
def s_get_all(t):
    t.ok("create", "deployment", "ga", "--image=nginx:1.25")
    t.ok("create", "service", "clusterip", "gs", "--tcp=80:80")
    t.ok("create", "configmap", "notall")
    t.ok("create", "cronjob", "gc", "--image=busybox:1.36", "--schedule=0 * * * *")
    r = t.ok("get", "all")
    t.expect_match(r"^deployment\.apps/ga\s+\d+/1\s+", r.out, "get all", r)
    t.expect_match(r"^service/gs\s+ClusterIP\s+", r.out, "get all", r)
    t.expect_match(r"^cronjob\.batch/gc\s+0 \* \* \* \*\s+", r.out, "get all", r)
    t.expect_not_in("configmap", r.out, "get all", r)
    r = t.ok("get", "all", "-o", "name")
    names = set(r.out.split())
    t.expect({"deployment.apps/ga", "service/gs", "cronjob.batch/gc"} <= names, "get all -o name", r)
    t.expect(not any(n.startswith("configmap/") for n in names), "get all lists no configmaps", r)


@scenario("namespace-defaults")
def s_namespace_defaults(t):
    # What the controllers of every cluster put in place: the `kubernetes` service, and in each
    # namespace the `default` service account and the `kube-root-ca.crt` configmap.
    r = t.ok("get", "service", "kubernetes", "-n", "default", "-o", "json", namespaced=False)
    svc = json.loads(r.out)
    t.expect_equal([(p.get("name"), p.get("port"), p.get("protocol")) for p in svc["spec"]["ports"]], [("https", 443, "TCP")], "kubernetes service ports", r)
    t.eventually("serviceaccount default in the new namespace", lambda: t.ok("get", "serviceaccount", "default") and True, timeout=20)
    t.eventually("configmap kube-root-ca.crt in the new namespace", lambda: t.ok("get", "configmap", "kube-root-ca.crt") and True, timeout=20)
    ca = t.jsonpath("configmap", "kube-root-ca.crt", "{.data.ca\\.crt}")
    t.expect_in("-----BEGIN CERTIFICATE-----", ca, "kube-root-ca.crt ca.crt")
    r = t.ok("create", "token", "default")
    t.expect_equal(jwt_claims(r.out.strip()).get("sub"), "system:serviceaccount:%s:default" % t.ns, "token of the default service account", r)


# --------------------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kubectl", default="kubectl", help="the kubectl binary to test")
    parser.add_argument("--kubeconfig", help="kubeconfig of the kedge server (default: $KUBECONFIG)")
    parser.add_argument("--only", action="append", default=[], help="run only this scenario (repeatable)")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument("--verbose", "-v", action="store_true", help="print every command")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args()
    if args.list:
        for name, _, _ in SCENARIOS:
            print(name)
        return 0
    unknown = [n for n in args.only if n not in [s[0] for s in SCENARIOS]]
    if unknown:
        parser.error("unknown scenario(s): %s" % " ".join(unknown))
    kubeconfig = args.kubeconfig or os.environ.get("KUBECONFIG")
    if not kubeconfig:
        parser.error("--kubeconfig is required")
    kubectl_path = shutil.which(args.kubectl) or args.kubectl
    workdir = tempfile.mkdtemp(prefix="kedge-kubectl-scenarios.")
    try:
        kubectl = Kubectl(os.path.abspath(kubectl_path), os.path.abspath(kubeconfig), os.path.join(workdir, "home"), args.verbose)
        print("kubectl %s (1.%d), kubeconfig %s" % (kubectl.git_version, kubectl.minor, kubeconfig), flush=True)
        health = kubectl.run(["get", "--raw", "/healthz"])
        if health.code != 0:
            print("FAIL preflight: the server does not answer /healthz\n" + health.show(), flush=True)
            return 2
        ok = Suite(kubectl, workdir).run(set(args.only))
    finally:
        if args.keep:
            print("scratch directory kept: " + workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
