//! `npfl138`: the course's checks for a solution in any language or a Python submission run the
//! way ReCodEx runs it, grading of a whole folder of submissions, and regeneration of our
//! reference outputs.
//!
//! ```text
//! npfl138 check numpy_entropy numpy_entropy.py            # a submission, like ReCodEx
//! npfl138 check numpy_entropy -- python3 numpy_entropy.py # any command
//! npfl138 grade numpy_entropy submissions/ -j 2
//! npfl138 gradebook results/*.json
//! npfl138 list
//! npfl138 regenerate [numpy_entropy]
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use npfl138::cases::{self, ASSIGNMENTS, Case, CaseOptions, DataPaths};
use npfl138::check::{Solution, check_case, invocation};
use npfl138::report::{self, Report};
use npfl138::runner::{Limits, Sandbox};
use npfl138::submission::Submission;
use npfl138::{CheckError, sandbox};

#[derive(Parser, Debug)]
#[command(
    name = "npfl138",
    version,
    about = "Check NPFL138 solutions like ReCodEx does, grade a folder of submissions, list the cases, regenerate reference outputs"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run a solution on every case of an assignment and report each verdict.
    ///
    /// `npfl138 check ASSIGNMENT PATH` runs a Python submission (a .py file or a folder of at most
    /// 20 files, 20 MB) the way ReCodEx does: the one file with `def main(` is imported as
    /// `__recodex__`, its `parser` parses the case's arguments, and the value `main(args)` returns
    /// is compared. `npfl138 check ASSIGNMENT -- COMMAND...` runs any command instead, with the
    /// case's arguments appended, and compares what it prints. Each case runs in a fresh
    /// temporary directory holding the case's files, under the limits below. Exit code: 0 PASSED,
    /// 1 FAILED or REJECTED, 3 INCOMPLETE (cases skipped for missing data), 2 errors.
    Check(CheckArgs),
    /// Grade every submission in a folder (each a subfolder or a single .py file).
    ///
    /// Writes one JSON result per submission and a gradebook CSV into --out. A submission whose
    /// JSON result is newer than its files is not graded again unless --force.
    Grade(GradeArgs),
    /// Merge JSON results (of `grade`, possibly from several shards) into one gradebook CSV.
    Gradebook {
        /// The JSON results.
        #[arg(required = true, value_name = "RESULT.json")]
        results: Vec<PathBuf>,
        /// Write the CSV here instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// List the assignments and their cases.
    List(DataArgs),
    /// Rerun our reference implementation on every case and rewrite the expected outputs.
    ///
    /// Runs the grader suite with NPFL138_REGENERATE=1 INSTA_UPDATE=always (hidden-case files,
    /// stand-in reference outputs, insta snapshots), deletes stray .snap.new files and prints what
    /// changed (git diff --stat). Needs the project's source tree and cargo.
    Regenerate {
        /// Only this assignment's outputs.
        #[arg(value_parser = ASSIGNMENTS)]
        assignment: Option<String>,
    },
}

#[derive(Args, Debug)]
struct DataArgs {
    /// The course's numpy_entropy files [default: ../shared/data/course from the project's root]
    #[arg(long, env = "NPFL138_COURSE_DATA", value_name = "DIR")]
    course_data: Option<PathBuf>,
    /// The course's mnist.npz [default: $NPFL_CACHE/mnist.npz or ./mnist.npz; without it the
    /// MNIST cases run on ../shared/data/mnist_npm10k.npz with our reference's outputs]
    #[arg(long, value_name = "FILE")]
    mnist: Option<PathBuf>,
}

/// Limits and options shared by `check` and `grade`.
#[derive(Args, Debug)]
struct RunArgs {
    /// Time limit per case in seconds [default: each case's own: at least 10 s, and at least
    /// twice our reference's time]
    #[arg(long, alias = "timeout", value_name = "SECONDS", value_parser = parse_seconds)]
    time_limit: Option<Duration>,
    /// Memory limit of the solution's whole process tree (resident memory, polled), e.g. 1.5G, 512M
    #[arg(long, value_name = "SIZE", default_value = "1.5G", value_parser = parse_size)]
    memory_limit: u64,
    /// Output kept per stream (stdout, stderr); more is an OUTPUT verdict
    #[arg(long, value_name = "SIZE", default_value = "8M", value_parser = parse_size)]
    output_limit: u64,
    /// Largest file the solution may write
    #[arg(long, value_name = "SIZE", default_value = "64M", value_parser = parse_size)]
    file_size_limit: u64,
    /// Most processes of the solution alive at once
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    process_limit: u32,
    /// Let the solution use the network (off by default, as in ReCodEx)
    #[arg(long)]
    allow_network: bool,
    /// Refuse to run when an isolation (PID namespace, network, confined writes) is not available
    #[arg(long)]
    strict: bool,
    /// Seed of the generated hidden cases [default: a fresh one, printed in the report]
    #[arg(long)]
    seed: Option<u32>,
    /// Run only this case (repeatable), e.g. --case test_1
    #[arg(long = "case", value_name = "NAME")]
    cases: Vec<String>,
    /// The Python interpreter for submissions
    #[arg(
        long,
        env = "NPFL138_PYTHON",
        default_value = "python3",
        value_name = "PROGRAM"
    )]
    python: String,
    #[command(flatten)]
    data: DataArgs,
}

impl RunArgs {
    fn limits(&self) -> Limits {
        Limits {
            time: self.time_limit.unwrap_or(Duration::from_secs(10)),
            memory: self.memory_limit,
            output: self.output_limit,
            file_size: self.file_size_limit,
            processes: self.process_limit as usize,
            network: self.allow_network,
        }
    }
}

#[derive(Args, Debug)]
struct CheckArgs {
    /// The assignment.
    #[arg(value_parser = ASSIGNMENTS)]
    assignment: String,
    /// A Python submission: a .py file or a folder (run like ReCodEx).
    #[arg(
        value_name = "PATH",
        required_unless_present = "command",
        conflicts_with = "command"
    )]
    submission: Option<PathBuf>,
    #[command(flatten)]
    run: RunArgs,
    /// Write the result as JSON to FILE (`-`: stdout, and the text report goes to stderr).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write the result as JUnit XML to FILE.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// A solution command in any language, e.g. `python3 numpy_entropy.py`.
    #[arg(last = true, value_name = "COMMAND")]
    command: Vec<String>,
}

#[derive(Args, Debug)]
struct GradeArgs {
    /// The assignment.
    #[arg(value_parser = ASSIGNMENTS)]
    assignment: String,
    /// The folder of submissions: each subfolder or .py file is one.
    #[arg(value_name = "SUBMISSIONS_DIR")]
    submissions: PathBuf,
    /// Where the JSON results and gradebook.csv go [default: ./npfl138-grade-ASSIGNMENT]
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Submissions graded at once.
    #[arg(short = 'j', long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    jobs: u16,
    /// Grade only share I of N (1-based, by sorted name), for spreading a course over machines.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    shard: Option<(usize, usize)>,
    /// Grade again even where the JSON result is newer than the submission.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    run: RunArgs,
}

fn parse_seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| "must be a positive number of seconds".to_owned())
}

/// `1.5G`, `512M`, `64K`, `1048576` (binary units; a trailing `B` or `iB` is allowed).
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let t = t
        .strip_suffix("iB")
        .or_else(|| t.strip_suffix('B'))
        .unwrap_or(t);
    let (number, scale) = match t.char_indices().last() {
        Some((i, 'K' | 'k')) => (&t[..i], 1u64 << 10),
        Some((i, 'M' | 'm')) => (&t[..i], 1 << 20),
        Some((i, 'G' | 'g')) => (&t[..i], 1 << 30),
        _ => (t, 1),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{s}` is not a size like 1.5G, 512M or 65536"))?;
    if !(value.is_finite() && value > 0.0) {
        return Err(format!("`{s}`: must be positive"));
    }
    Ok((value * scale as f64).round() as u64)
}

fn parse_shard(s: &str) -> Result<(usize, usize), String> {
    let bad = || format!("`{s}` is not a shard like 1/4 (I from 1 to N)");
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (i, n): (usize, usize) = (i.parse().map_err(|_| bad())?, n.parse().map_err(|_| bad())?);
    if n == 0 || i == 0 || i > n {
        return Err(bad());
    }
    Ok((i, n))
}

fn data_paths(args: &DataArgs) -> anyhow::Result<DataPaths> {
    let mut paths = DataPaths::from_env();
    if let Some(dir) = &args.course_data {
        paths.course = dir.clone();
        paths.course_download = None;
    }
    if let Some(file) = &args.mnist {
        if !file.is_file() {
            bail!("--mnist {}: no such file", file.display());
        }
        paths.mnist = Some(std::path::absolute(file).unwrap_or_else(|_| file.clone()));
    }
    Ok(paths)
}

/// The cases to run, after `--case`, and the hidden cases' seed. With `fetch`, the course's files
/// missing from the cache are downloaded first (an installed checker); without (a submission
/// already rejected, which runs nothing), cases whose files are missing are listed all the same.
fn selected_cases(
    assignment: &str,
    run: &RunArgs,
    fetch: bool,
) -> anyhow::Result<(Vec<Case>, Option<u32>)> {
    let mut paths = data_paths(&run.data)?;
    let seed = (assignment == "numpy_entropy")
        .then(|| run.seed.unwrap_or_else(cases::numpy_entropy::fresh_seed));
    if !fetch {
        paths.course_download = None;
    }
    if let (Some(url), "numpy_entropy") = (&paths.course_download, assignment) {
        // An installed checker without the project beside it: the course's files from the cache,
        // downloaded once. Without them the course's cases are SKIPPED (the check INCOMPLETE).
        let fetched =
            cases::numpy_entropy::fetch_course_files(&paths.course, url, &mut |file, url| {
                eprintln!("npfl138: downloading {file} from {url}");
            });
        if let Err(e) = fetched {
            eprintln!("npfl138: warning: the course's files are not available: {e}");
        }
    }
    let stand_in = paths.shared.join("mnist_npm10k.npz").is_file();
    if paths.course_download.is_some()
        && assignment != "numpy_entropy"
        && paths.mnist.is_none()
        && !stand_in
    {
        // Likewise the course's MNIST, from the course's dataset server, as the course's own
        // scripts download it (into $NPFL_CACHE, else our cache folder).
        match cases::fetch_mnist(&mut |file, url| {
            eprintln!("npfl138: downloading {file} from {url}");
        }) {
            Ok(path) => paths.mnist = Some(path),
            Err(e) => eprintln!("npfl138: warning: the course's MNIST is not available: {e}"),
        }
    }
    let mut all = cases::cases(assignment, &paths, CaseOptions { seed })?;
    if !run.cases.is_empty() {
        for name in &run.cases {
            if !all.iter().any(|c| &c.name == name) {
                bail!(
                    "--case {name}: {assignment} has no such case (it has {})",
                    all.iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
        }
        all.retain(|c| run.cases.contains(&c.name));
    }
    Ok((all, seed))
}

/// The sandbox, probed once; with `--strict`, an error when an isolation is missing.
fn sandbox(run: &RunArgs, cancel: &Arc<AtomicBool>) -> anyhow::Result<Sandbox> {
    let exe = std::env::current_exe().context("finding the npfl138 binary")?;
    let sandbox = Sandbox::probe(&exe, cancel.clone())?;
    let missing = sandbox.isolation.missing(&run.limits());
    if run.strict && !missing.is_empty() {
        bail!("--strict: {}", missing.join("; "));
    }
    Ok(sandbox)
}

/// What every solution of one `check` or `grade` is checked with.
struct Job<'a> {
    assignment: &'a str,
    cases: &'a [Case],
    seed: Option<u32>,
    sandbox: &'a Sandbox,
    run: &'a RunArgs,
}

/// Checks `solution` on the job's cases; `show` gets each result as it comes.
fn check_solution(
    job: &Job<'_>,
    name: String,
    solution: Result<Solution, CheckError>,
    mut show: impl FnMut(&npfl138::check::CaseResult) -> std::io::Result<()>,
) -> anyhow::Result<Report> {
    let Job {
        assignment,
        cases,
        seed,
        sandbox,
        run,
    } = *job;
    let limits = run.limits();
    let mut report = Report {
        assignment: assignment.to_owned(),
        solution: String::new(),
        name,
        seed,
        limits: limits.clone(),
        time_limit: run.time_limit,
        isolation: sandbox.isolation.clone(),
        rejected: None,
        results: Vec::new(),
    };
    let solution = match solution {
        Ok(s) => s,
        Err(CheckError::Submission(e)) => {
            report.rejected = Some(e.to_string());
            return Ok(report);
        }
        Err(e) => return Err(e.into()),
    };
    report.solution = solution.to_string();
    for case in cases {
        let result = check_case(case, &solution, sandbox, &limits, run.time_limit)
            .with_context(|| format!("case {}", case.name))?;
        show(&result)?;
        report.results.push(result);
    }
    Ok(report)
}

fn write_file(path: &Path, text: &str) -> anyhow::Result<()> {
    // Written beside, then renamed: an interrupted write leaves no half a file.
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("{}: cannot write there", dir.display()))?;
    tmp.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    tmp.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn check(args: &CheckArgs, cancel: &Arc<AtomicBool>) -> anyhow::Result<u8> {
    let run = &args.run;
    let cwd = std::env::current_dir().context("the current directory")?;
    let (name, solution) = match &args.submission {
        Some(path) => (
            path.file_name().map_or_else(
                || path.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            ),
            Submission::open(path)
                .map(|submission| Solution::Submission {
                    submission,
                    python: run.python.clone(),
                })
                .map_err(CheckError::from),
        ),
        None => (
            args.command.join(" "),
            Ok(Solution::Command(invocation(&args.command, &cwd))),
        ),
    };
    // A rejected submission runs no case: nothing to download for it.
    let rejected = matches!(solution, Err(CheckError::Submission(_)));
    let (cases, seed) = selected_cases(&args.assignment, run, !rejected)?;
    let sandbox = sandbox(run, cancel)?;
    let json_to_stdout = args.json.as_deref() == Some(Path::new("-"));
    let mut out: Box<dyn Write> = if json_to_stdout {
        Box::new(std::io::stderr().lock())
    } else {
        Box::new(std::io::stdout().lock())
    };
    let limits = run.limits();
    writeln!(
        out,
        "npfl138 check {}: {} cases; solution: {}",
        args.assignment,
        cases.len(),
        match &solution {
            Ok(s) => s.to_string(),
            Err(_) => name.clone(),
        }
    )?;
    writeln!(
        out,
        "{}",
        sandbox.isolation.describe(&limits, run.time_limit)
    )?;
    if let Some(case) = cases.first() {
        writeln!(out, "comparison: {}", case.rule)?;
    }
    if let Some(seed) = seed {
        writeln!(
            out,
            "hidden cases: seed {seed} (--seed {seed} repeats them)"
        )?;
    }
    out.flush()?;
    let job = Job {
        assignment: &args.assignment,
        cases: &cases,
        seed,
        sandbox: &sandbox,
        run,
    };
    let report = check_solution(&job, name, solution, |result| {
        writeln!(out, "{result}")?;
        out.flush()
    })?;
    if let Some(reason) = &report.rejected {
        writeln!(out, "submission rejected: {reason}")?;
        writeln!(out, "{}: 0.00 points: REJECTED", args.assignment)?;
    } else {
        writeln!(out, "{}", report.summary())?;
    }
    drop(out);
    if let Some(path) = &args.json {
        let text = format!("{:#}\n", report.to_json());
        if json_to_stdout {
            std::io::stdout().lock().write_all(text.as_bytes())?;
        } else {
            write_file(path, &text)?;
        }
    }
    if let Some(path) = &args.junit {
        write_file(path, &report.to_junit())?;
    }
    Ok(report.status().exit_code())
}

/// The submissions in `dir`: subfolders and files, sorted by name, hidden ones left out.
fn submissions(dir: &Path, out: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let out = std::fs::canonicalize(out).ok();
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("{}", dir.display()))? {
        let path = entry.with_context(|| format!("{}", dir.display()))?.path();
        let hidden = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if hidden || (out.is_some() && std::fs::canonicalize(&path).ok() == out) {
            continue;
        }
        found.push(path);
    }
    found.sort();
    Ok(found)
}

fn grade(args: &GradeArgs, cancel: &Arc<AtomicBool>) -> anyhow::Result<u8> {
    let run = &args.run;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("npfl138-grade-{}", args.assignment)));
    std::fs::create_dir_all(&out).with_context(|| format!("--out {}", out.display()))?;
    let mut all = submissions(&args.submissions, &out)?;
    if let Some((i, n)) = args.shard {
        all = all
            .into_iter()
            .enumerate()
            .filter(|(k, _)| k % n == i - 1)
            .map(|(_, p)| p)
            .collect();
    }
    let (cases, seed) = selected_cases(&args.assignment, run, true)?;
    let sandbox = sandbox(run, cancel)?;
    eprintln!(
        "npfl138 grade {}: {} submission(s){} with {} worker(s); {} cases{}\n{}",
        args.assignment,
        all.len(),
        args.shard
            .map_or_else(String::new, |(i, n)| format!(" (shard {i}/{n})")),
        args.jobs,
        cases.len(),
        seed.map_or_else(String::new, |s| format!(", hidden cases seed {s}")),
        sandbox.isolation.describe(&run.limits(), run.time_limit)
    );
    let job = Job {
        assignment: &args.assignment,
        cases: &cases,
        seed,
        sandbox: &sandbox,
        run,
    };
    let bar = indicatif::ProgressBar::new(all.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {elapsed_precise} {msg}")
            .expect("a valid template"),
    );
    let next = AtomicUsize::new(0);
    let results = std::sync::Mutex::new(vec![None; all.len()]);
    let failure = std::sync::Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..args.jobs {
            s.spawn(|| {
                loop {
                    let k = next.fetch_add(1, Ordering::SeqCst);
                    if k >= all.len()
                        || cancel.load(Ordering::SeqCst)
                        || failure.lock().unwrap().is_some()
                    {
                        break;
                    }
                    match grade_one(&job, &all[k], &out, args.force) {
                        Ok(value) => {
                            bar.set_message(format!(
                                "{} {}",
                                value["submission"].as_str().unwrap_or(""),
                                value["status"].as_str().unwrap_or("")
                            ));
                            results.lock().unwrap()[k] = Some(value);
                        }
                        Err(e) => {
                            failure.lock().unwrap().get_or_insert(e);
                            break;
                        }
                    }
                    bar.inc(1);
                }
            });
        }
    });
    bar.finish_and_clear();
    if let Some(e) = failure.into_inner().unwrap() {
        return Err(e);
    }
    if cancel.load(Ordering::SeqCst) {
        return Err(CheckError::Interrupted.into());
    }
    let results: Vec<serde_json::Value> = results
        .into_inner()
        .unwrap()
        .into_iter()
        .flatten()
        .collect();
    if results.is_empty() {
        bail!("{}: no submissions to grade", args.submissions.display());
    }
    let csv = report::gradebook(&results).map_err(anyhow::Error::msg)?;
    let gradebook = out.join("gradebook.csv");
    write_file(&gradebook, &csv)?;
    let mut stdout = std::io::stdout().lock();
    for r in &results {
        writeln!(
            stdout,
            "{:<30} {:>5.2}/{:.2}  {}",
            r["submission"].as_str().unwrap_or("?"),
            r["points"].as_f64().unwrap_or(0.0),
            r["max_points"].as_f64().unwrap_or(0.0),
            r["status"].as_str().unwrap_or("?")
        )?;
    }
    writeln!(
        stdout,
        "results: {}/*.json; gradebook: {}",
        out.display(),
        gradebook.display()
    )?;
    Ok(0)
}

/// Grades one submission, or reuses its JSON result when that is newer than its files.
fn grade_one(
    job: &Job<'_>,
    path: &Path,
    out: &Path,
    force: bool,
) -> anyhow::Result<serde_json::Value> {
    let assignment = job.assignment;
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let json_path = out.join(format!("{name}.json"));
    let submission = Submission::open(path);
    if !force {
        let newest = match &submission {
            Ok(s) => s.modified(),
            Err(_) => std::fs::metadata(path).and_then(|m| m.modified()).ok(),
        };
        let result_time = std::fs::metadata(&json_path)
            .and_then(|m| m.modified())
            .ok();
        if let (Some(newest), Some(result_time)) = (newest, result_time)
            && result_time > newest
        {
            {
                let text = std::fs::read_to_string(&json_path)
                    .with_context(|| format!("{}", json_path.display()))?;
                let value: serde_json::Value = serde_json::from_str(&text)
                    .with_context(|| format!("{}: not a JSON result", json_path.display()))?;
                if value["assignment"].as_str() == Some(assignment) {
                    return Ok(value);
                }
            }
        }
    }
    let solution = submission
        .map_err(CheckError::from)
        .map(|submission| Solution::Submission {
            submission,
            python: job.run.python.clone(),
        });
    let report = check_solution(job, name, solution, |_| Ok(()))?;
    let value = report.to_json();
    write_file(&json_path, &format!("{value:#}\n"))?;
    Ok(value)
}

fn gradebook(results: &[PathBuf], output: Option<&Path>) -> anyhow::Result<u8> {
    let values = results
        .iter()
        .map(|path| {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
            serde_json::from_str(&text)
                .with_context(|| format!("{}: not a JSON result", path.display()))
        })
        .collect::<anyhow::Result<Vec<serde_json::Value>>>()?;
    let csv = report::gradebook(&values).map_err(anyhow::Error::msg)?;
    match output {
        Some(path) => write_file(path, &csv)?,
        None => std::io::stdout().lock().write_all(csv.as_bytes())?,
    }
    Ok(0)
}

fn list(args: &DataArgs) -> anyhow::Result<()> {
    let paths = data_paths(args)?;
    let mut out = std::io::stdout().lock();
    for assignment in ASSIGNMENTS {
        let cases = cases::cases(assignment, &paths, CaseOptions::default())?;
        writeln!(out, "{assignment} ({} cases)", cases.len())?;
        for c in &cases {
            writeln!(
                out,
                "  {:<10} {:.2} pt  {:>4}  {}",
                c.name,
                c.points,
                format!("{}s", c.timeout.as_secs()),
                c.args.join(" ")
            )?;
            writeln!(out, "             {}", c.description)?;
            if let Some(note) = &c.note {
                writeln!(out, "             {note}")?;
            }
            if let Some(reason) = &c.skip {
                writeln!(out, "             SKIPPED here: {reason}")?;
            }
        }
    }
    Ok(())
}

/// The project's root: this binary's source tree (it must still be there to regenerate).
fn workspace() -> anyhow::Result<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if !root.join("Cargo.toml").is_file() || !root.join("tests").is_dir() {
        bail!(
            "regenerate needs the project's source tree, which this binary was built from: {} is gone",
            root.display()
        );
    }
    Ok(root)
}

fn remove_snap_new(dir: &Path, removed: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if !dir.is_dir() {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            if path
                .file_name()
                .is_some_and(|n| n != "target" && n != ".git")
            {
                remove_snap_new(&path, removed)?;
            }
        } else if path.to_string_lossy().ends_with(".snap.new") {
            std::fs::remove_file(&path)?;
            removed.push(path);
        }
    }
    Ok(())
}

fn regenerate(assignment: Option<&str>) -> anyhow::Result<()> {
    let root = workspace()?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    // Pass 1 writes: our reference's tests (the grader suite's assignment modules, or only one
    // assignment's) with NPFL138_REGENERATE=1, leaving out the tests that run the checker, which
    // compiles the reference outputs in and would compare against the old ones.
    // Pass 2 checks: the whole suite, rebuilt with the new outputs, as CI runs it.
    let filter = assignment.map_or_else(|| "::".to_owned(), |a| format!("{a}::"));
    let mut write = Command::new(&cargo);
    write
        .current_dir(&root)
        .args(["test", "-p", "npfl138", "--test", "grader", "--", &filter])
        .args(["--skip", "check_", "--skip", "grade::"])
        .env("NPFL138_REGENERATE", "1")
        .env("INSTA_UPDATE", "always")
        .env_remove("CI");
    let mut check = Command::new(&cargo);
    check.current_dir(&root).args(["test", "--workspace"]);
    for (what, cmd) in [("writing", &mut write), ("checking", &mut check)] {
        eprintln!(
            "{what}: {:?} in {}",
            cmd.get_args().collect::<Vec<_>>(),
            root.display()
        );
        let status = cmd
            .status()
            .with_context(|| format!("running {}", cargo.to_string_lossy()))?;
        if !status.success() {
            let mut removed = Vec::new();
            remove_snap_new(&root, &mut removed).context("removing stray .snap.new files")?;
            bail!(
                "the grader suite failed while {what} the reference outputs ({status}); see its output above"
            );
        }
    }
    let outputs = [
        "tests",
        "assignments/tests",
        "datasets/tests",
        "npfl_core/tests",
    ];
    let diff = Command::new("git")
        .current_dir(&root)
        .args(["diff", "--stat", "--"])
        .args(outputs)
        .output()
        .context("running git diff")?;
    let untracked = Command::new("git")
        .current_dir(&root)
        .args(["ls-files", "--others", "--exclude-standard", "--"])
        .args(outputs)
        .output()
        .context("running git ls-files")?;
    let diff = String::from_utf8_lossy(&diff.stdout);
    let untracked = String::from_utf8_lossy(&untracked.stdout);
    if diff.trim().is_empty() && untracked.trim().is_empty() {
        println!("regenerated: no reference output changed");
    } else {
        println!(
            "regenerated: changed reference outputs (review with `git diff tests/`, then commit):"
        );
        print!("{diff}");
        for f in untracked.lines() {
            println!(" new: {f}");
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let mut args = std::env::args_os();
    if args.nth(1).is_some_and(|a| a == sandbox::SUBCOMMAND) {
        // The trampoline: restricts itself and becomes the solution (see npfl138::sandbox).
        std::process::exit(sandbox::main(args));
    }
    let cli = Cli::parse();
    // Ctrl-C, SIGTERM, SIGHUP: every running solution is killed and its directory removed
    // before the checker exits.
    let cancel = Arc::new(AtomicBool::new(false));
    for signal in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ] {
        if let Err(e) = signal_hook::flag::register(signal, cancel.clone()) {
            eprintln!("npfl138: error: cannot handle signal {signal}: {e}");
            return ExitCode::from(2);
        }
    }
    let result = match &cli.command {
        Cmd::Check(args) => check(args, &cancel),
        Cmd::Grade(args) => grade(args, &cancel),
        Cmd::Gradebook { results, output } => gradebook(results, output.as_deref()),
        Cmd::List(args) => list(args).map(|()| 0),
        Cmd::Regenerate { assignment } => regenerate(assignment.as_deref()).map(|()| 0),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        // `npfl138 list | head`: a closed stdout is not an error worth reporting.
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::from(2)
        }
        Err(e)
            if e.chain().any(|c| {
                matches!(
                    c.downcast_ref::<CheckError>(),
                    Some(CheckError::Interrupted)
                )
            }) =>
        {
            eprintln!("npfl138: interrupted: the solution was killed and its files removed");
            ExitCode::from(130)
        }
        Err(e) => {
            eprintln!("npfl138: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
