//! Batch workloads against a real `kedge server`, driven by real kubectl: Jobs to
//! completion and to failure (back-off limit, deadline, pod failure policy), Indexed Jobs,
//! suspend and resume, TTL after finished, and a CronJob firing. A fake kubelet binds and
//! runs the pods; the tests end them as their containers would.

mod common;

use std::time::Duration;

use common::fake_kubelet::{Behaviour, FakeKubelet, client, eventually, set_status};
use common::{Cluster, Kubectl, Out, default_kubectl};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};

struct Test {
    cluster: Cluster,
    kubectl: Kubectl,
    client: kube::Client,
    _kubelet: FakeKubelet,
}

impl Test {
    async fn start() -> Test {
        let cluster = Cluster::start();
        let client = client(&cluster).await;
        let kubelet = FakeKubelet::start(client.clone(), "node-1", Behaviour::default()).await;
        Test {
            cluster,
            kubectl: default_kubectl(),
            client,
            _kubelet: kubelet,
        }
    }

    fn kubectl(&self, args: &[&str]) -> Out {
        tokio::task::block_in_place(|| self.cluster.kubectl(&self.kubectl, args))
    }

    fn apply(&self, yaml: &str) {
        let out = tokio::task::block_in_place(|| {
            self.cluster
                .kubectl_with(&self.kubectl, &["apply", "-f", "-"], &[], Some(yaml))
        });
        out.ok();
    }

    /// The job's pods (in any state).
    async fn pods(&self, job: &str) -> Vec<Pod> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), "default");
        api.list(&ListParams::default().labels(&format!("batch.kubernetes.io/job-name={job}")))
            .await
            .unwrap()
            .items
    }

    /// The job's pods that run (bound, Running, not being deleted).
    async fn running(&self, job: &str) -> Vec<String> {
        self.pods(job)
            .await
            .into_iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
            .filter_map(|p| p.metadata.name)
            .collect()
    }

    async fn job(&self, name: &str) -> Job {
        let api: Api<Job> = Api::namespaced(self.client.clone(), "default");
        api.get(name).await.unwrap()
    }

    /// Ends a pod through the status subresource with kubectl.
    fn kubectl_finish(&self, pod: &str, phase: &str) {
        let patch = format!(r#"{{"status":{{"phase":"{phase}"}}}}"#);
        self.kubectl(&[
            "patch",
            "pod",
            pod,
            "--subresource=status",
            "--type=merge",
            "-p",
            &patch,
        ])
        .ok();
    }
}

fn job_yaml(name: &str, spec: &str) -> String {
    format!(
        r#"apiVersion: batch/v1
kind: Job
metadata:
  name: {name}
spec:
{spec}
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: main
        image: busybox
        command: ["true"]
"#
    )
}

fn condition_types(job: &Job) -> Vec<String> {
    job.status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|c| c.status == "True")
        .map(|c| c.type_)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_runs_to_completion() {
    let t = Test::start().await;
    t.apply(&job_yaml("done", "  completions: 3\n  parallelism: 2"));
    // Parallelism: two pods at first.
    let first = eventually(Duration::from_secs(30), "two running pods", || async {
        let running = t.running("done").await;
        (running.len() == 2).then_some(running)
    })
    .await;
    assert_eq!(t.pods("done").await.len(), 2);
    for pod in &first {
        t.kubectl_finish(pod, "Succeeded");
    }
    let last = eventually(Duration::from_secs(30), "the third pod", || async {
        t.running("done").await.pop()
    })
    .await;
    t.kubectl_finish(&last, "Succeeded");
    t.kubectl(&[
        "wait",
        "--for=condition=complete",
        "job/done",
        "--timeout=60s",
    ])
    .ok();
    let out = t.kubectl(&[
        "get",
        "job",
        "done",
        "-o",
        "jsonpath={.status.succeeded} {.status.failed} {.status.active} {.status.completionTime}",
    ]);
    let fields: Vec<&str> = out.ok().split(' ').collect();
    assert_eq!(&fields[..3], ["3", "0", "0"], "{fields:?}");
    assert!(!fields[3].is_empty(), "completionTime is set");
    let job = t.job("done").await;
    assert_eq!(condition_types(&job), ["SuccessCriteriaMet", "Complete"]);
    let complete = job.status.unwrap().conditions.unwrap().pop().unwrap();
    assert_eq!(complete.reason.as_deref(), Some("CompletionsReached"));
    assert_eq!(
        complete.message.as_deref(),
        Some("Reached expected number of succeeded pods")
    );
    // Every pod was counted, then released.
    for pod in t.pods("done").await {
        let finalizers = pod.metadata.finalizers.unwrap_or_default();
        assert!(finalizers.is_empty(), "{finalizers:?}");
    }
    let described = eventually(Duration::from_secs(20), "the Completed event", || async {
        let out = t.kubectl(&["describe", "job", "done"]);
        let text = out.ok().to_string();
        text.contains("Completed").then_some(text)
    })
    .await;
    assert!(described.contains("SuccessfulCreate"), "{described}");
    assert!(described.contains("Created pod: done-"), "{described}");
    assert!(described.contains("Job completed"), "{described}");
    let table = t.kubectl(&["get", "job", "done"]);
    assert!(table.ok().contains("Complete"), "{}", table.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_fails_past_its_backoff_limit() {
    let t = Test::start().await;
    t.apply(&job_yaml("flaky", "  backoffLimit: 1"));
    let first = eventually(Duration::from_secs(30), "the first pod", || async {
        t.running("flaky").await.pop()
    })
    .await;
    set_status(&t.client, "default", &first, "Failed", Some(1))
        .await
        .unwrap();
    // The replacement comes after the pod failure back-off (10 s).
    let second = eventually(Duration::from_secs(40), "the replacement pod", || async {
        t.running("flaky").await.into_iter().find(|p| *p != first)
    })
    .await;
    set_status(&t.client, "default", &second, "Failed", Some(1))
        .await
        .unwrap();
    t.kubectl(&[
        "wait",
        "--for=condition=failed",
        "job/flaky",
        "--timeout=60s",
    ])
    .ok();
    let job = t.job("flaky").await;
    let status = job.status.clone().unwrap();
    assert_eq!((status.failed, status.succeeded), (Some(2), Some(0)));
    assert_eq!(condition_types(&job), ["FailureTarget", "Failed"]);
    let failed = status.conditions.unwrap().pop().unwrap();
    assert_eq!(failed.reason.as_deref(), Some("BackoffLimitExceeded"));
    assert_eq!(
        failed.message.as_deref(),
        Some("Job has reached the specified backoff limit")
    );
    let events = eventually(
        Duration::from_secs(20),
        "the BackoffLimitExceeded event",
        || async {
            let out = t.kubectl(&[
                "get",
                "events",
                "--field-selector",
                "reason=BackoffLimitExceeded",
                "-o",
                "jsonpath={.items[*].message}",
            ]);
            let text = out.ok().to_string();
            (!text.is_empty()).then_some(text)
        },
    )
    .await;
    assert_eq!(events, "Job has reached the specified backoff limit");
    assert_eq!(t.pods("flaky").await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indexed_job_counts_indexes_and_fails_at_its_deadline() {
    let t = Test::start().await;
    t.apply(&job_yaml(
        "idx",
        "  completions: 3\n  parallelism: 3\n  completionMode: Indexed",
    ));
    let pods = eventually(Duration::from_secs(30), "three running pods", || async {
        let pods: Vec<Pod> = t
            .pods("idx")
            .await
            .into_iter()
            .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
            .collect();
        (pods.len() == 3).then_some(pods)
    })
    .await;
    let mut by_index = std::collections::BTreeMap::new();
    for pod in &pods {
        let index =
            pod.metadata.annotations.as_ref().unwrap()["batch.kubernetes.io/job-completion-index"]
                .clone();
        let label =
            &pod.metadata.labels.as_ref().unwrap()["batch.kubernetes.io/job-completion-index"];
        assert_eq!(&index, label);
        let spec = pod.spec.as_ref().unwrap();
        assert_eq!(
            spec.hostname.as_deref(),
            Some(format!("idx-{index}").as_str())
        );
        let env = spec.containers[0].env.as_ref().unwrap();
        assert!(env.iter().any(|e| e.name == "JOB_COMPLETION_INDEX"));
        let name = pod.metadata.name.clone().unwrap();
        assert!(name.starts_with(&format!("idx-{index}-")), "{name}");
        by_index.insert(index, name);
    }
    assert_eq!(
        by_index.keys().cloned().collect::<Vec<_>>(),
        ["0", "1", "2"]
    );
    for index in ["1", "2"] {
        set_status(&t.client, "default", &by_index[index], "Succeeded", None)
            .await
            .unwrap();
    }
    eventually(Duration::from_secs(30), "completedIndexes 1,2", || async {
        let out = t.kubectl(&[
            "get",
            "job",
            "idx",
            "-o",
            "jsonpath={.status.completedIndexes}",
        ]);
        (out.ok() == "1,2").then_some(())
    })
    .await;
    // Index 0 never finishes: a deadline already past fails the job.
    t.kubectl(&[
        "patch",
        "job",
        "idx",
        "--type=merge",
        "-p",
        r#"{"spec":{"activeDeadlineSeconds":1}}"#,
    ])
    .ok();
    t.kubectl(&["wait", "--for=condition=failed", "job/idx", "--timeout=60s"])
        .ok();
    let job = t.job("idx").await;
    let status = job.status.clone().unwrap();
    let failed = status.conditions.unwrap().pop().unwrap();
    assert_eq!(failed.reason.as_deref(), Some("DeadlineExceeded"));
    assert_eq!(
        failed.message.as_deref(),
        Some("Job was active longer than specified deadline")
    );
    assert_eq!(status.completed_indexes.as_deref(), Some("1,2"));
    assert_eq!(
        (status.succeeded, status.failed, status.active),
        (Some(2), Some(1), Some(0))
    );
    // The pod still running was deleted.
    eventually(Duration::from_secs(20), "index 0's pod to go", || async {
        let left = t.pods("idx").await;
        (!left
            .iter()
            .any(|p| p.metadata.name.as_ref() == Some(&by_index["0"])))
        .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_failure_policy_fails_the_job() {
    let t = Test::start().await;
    t.apply(&job_yaml(
        "policy",
        "  backoffLimit: 6\n  podFailurePolicy:\n    rules:\n    - action: FailJob\n      onExitCodes:\n        containerName: main\n        operator: In\n        values: [42]",
    ));
    let pod = eventually(Duration::from_secs(30), "the pod", || async {
        t.running("policy").await.pop()
    })
    .await;
    set_status(&t.client, "default", &pod, "Failed", Some(42))
        .await
        .unwrap();
    t.kubectl(&[
        "wait",
        "--for=condition=failed",
        "job/policy",
        "--timeout=60s",
    ])
    .ok();
    let failed = t
        .job("policy")
        .await
        .status
        .unwrap()
        .conditions
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(failed.reason.as_deref(), Some("PodFailurePolicy"));
    assert_eq!(
        failed.message,
        Some(format!(
            "Container main for pod default/{pod} failed with exit code 42 matching FailJob rule at index 0"
        ))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspended_jobs_run_once_resumed() {
    let t = Test::start().await;
    t.apply(&job_yaml("later", "  suspend: true"));
    eventually(
        Duration::from_secs(30),
        "the Suspended condition",
        || async {
            let job = t.job("later").await;
            condition_types(&job)
                .contains(&"Suspended".to_string())
                .then_some(())
        },
    )
    .await;
    assert!(t.pods("later").await.is_empty());
    assert!(t.job("later").await.status.unwrap().start_time.is_none());
    t.kubectl(&[
        "patch",
        "job",
        "later",
        "--type=merge",
        "-p",
        r#"{"spec":{"suspend":false}}"#,
    ])
    .ok();
    let pod = eventually(Duration::from_secs(30), "a pod once resumed", || async {
        t.running("later").await.pop()
    })
    .await;
    let job = t.job("later").await;
    let suspended = job
        .status
        .clone()
        .unwrap()
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "Suspended")
        .unwrap();
    assert_eq!(
        (suspended.status.as_str(), suspended.reason.as_deref()),
        ("False", Some("JobResumed"))
    );
    assert!(job.status.unwrap().start_time.is_some());
    t.kubectl_finish(&pod, "Succeeded");
    t.kubectl(&[
        "wait",
        "--for=condition=complete",
        "job/later",
        "--timeout=60s",
    ])
    .ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_jobs_go_after_their_ttl() {
    let t = Test::start().await;
    t.apply(&job_yaml("brief", "  ttlSecondsAfterFinished: 1"));
    let pod = eventually(Duration::from_secs(30), "the pod", || async {
        t.running("brief").await.pop()
    })
    .await;
    t.kubectl_finish(&pod, "Succeeded");
    eventually(Duration::from_secs(60), "the job to be deleted", || async {
        let out = t.kubectl(&["get", "job", "brief"]);
        (out.code != 0 && out.stderr.contains("NotFound")).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cronjob_fires_and_sees_its_job_complete() {
    let t = Test::start().await;
    t.apply(
        r#"apiVersion: batch/v1
kind: CronJob
metadata:
  name: tick
spec:
  schedule: "* * * * *"
  successfulJobsHistoryLimit: 1
  jobTemplate:
    metadata:
      labels:
        from: tick
    spec:
      template:
        spec:
          restartPolicy: Never
          containers:
          - name: main
            image: busybox
"#,
    );
    let jobs: Api<Job> = Api::namespaced(t.client.clone(), "default");
    let job = eventually(
        Duration::from_secs(80),
        "the CronJob's first Job",
        || async {
            jobs.list(&ListParams::default().labels("from=tick"))
                .await
                .unwrap()
                .items
                .pop()
        },
    )
    .await;
    let name = job.metadata.name.clone().unwrap();
    let minutes: i64 = name.strip_prefix("tick-").unwrap().parse().unwrap();
    let owner = &job.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.controller),
        ("CronJob", Some(true))
    );
    let scheduled = &job.metadata.annotations.as_ref().unwrap()["batch.kubernetes.io/cronjob-scheduled-timestamp"];
    assert_eq!(
        scheduled.parse::<jiff::Timestamp>().unwrap().as_second(),
        minutes * 60
    );
    let cronjobs: Api<CronJob> = Api::namespaced(t.client.clone(), "default");
    let status = eventually(Duration::from_secs(20), "the CronJob's status", || async {
        let status = cronjobs.get("tick").await.unwrap().status?;
        status.active.as_ref().filter(|a| !a.is_empty())?;
        Some(status)
    })
    .await;
    assert_eq!(
        status.last_schedule_time.unwrap().0.as_second(),
        minutes * 60
    );
    assert_eq!(
        status.active.unwrap()[0].name.as_deref(),
        Some(name.as_str())
    );
    let table = t.kubectl(&["get", "cronjob", "tick"]);
    assert!(table.ok().contains("* * * * *"), "{}", table.stdout);
    // The job's pod succeeds: the CronJob sees the job complete.
    let pod = eventually(Duration::from_secs(30), "the job's pod", || async {
        t.running(&name).await.pop()
    })
    .await;
    t.kubectl_finish(&pod, "Succeeded");
    let status = eventually(Duration::from_secs(30), "lastSuccessfulTime", || async {
        let status = cronjobs.get("tick").await.unwrap().status?;
        status.last_successful_time.as_ref()?;
        Some(status)
    })
    .await;
    assert!(
        status
            .active
            .unwrap_or_default()
            .iter()
            .all(|r| r.name.as_deref() != Some(&name))
    );
    let described = eventually(Duration::from_secs(20), "the CronJob's events", || async {
        let text = t.kubectl(&["describe", "cronjob", "tick"]).ok().to_string();
        text.contains("SawCompletedJob").then_some(text)
    })
    .await;
    assert!(
        described.contains(&format!("Created job {name}")),
        "{described}"
    );
    assert!(
        described.contains(&format!("Saw completed job: {name}, condition: Complete")),
        "{described}"
    );
}
