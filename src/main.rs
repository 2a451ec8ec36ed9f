//! `npfl138`: the course's checks for a solution in any language, and regeneration of our
//! reference outputs.
//!
//! ```text
//! npfl138 check numpy_entropy -- python3 numpy_entropy.py
//! npfl138 list
//! npfl138 regenerate [numpy_entropy]
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use npfl138::cases::{self, ASSIGNMENTS, CaseOptions, DataPaths};
use npfl138::check::{Summary, check_case, invocation};

#[derive(Parser, Debug)]
#[command(
    name = "npfl138",
    version,
    about = "Check an NPFL138 solution like ReCodEx does, list the cases, regenerate reference outputs"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run a solution on every case of an assignment and report OK / WRONG / TIMEOUT / CRASH / SKIPPED.
    ///
    /// The command after `--` runs once per case in a fresh temporary directory holding the case's
    /// files, with the case's arguments appended, e.g.
    /// `npfl138 check numpy_entropy -- python3 numpy_entropy.py`. Words of the command naming files
    /// in the current directory are made absolute. Exit code 0 only when every case that ran passed.
    Check(CheckArgs),
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

#[derive(Args, Debug)]
struct CheckArgs {
    /// The assignment.
    #[arg(value_parser = ASSIGNMENTS)]
    assignment: String,
    /// Time limit per case in seconds [default: each case's own, at least 10 s]
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    timeout: Option<Duration>,
    /// Seed of the generated hidden cases [default: a fresh one, printed in the report]
    #[arg(long)]
    seed: Option<u32>,
    #[command(flatten)]
    data: DataArgs,
    /// The solution's command, e.g. `python3 numpy_entropy.py`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<String>,
}

fn parse_seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s.parse().map_err(|e| format!("{e}"))?;
    Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| "must be a positive number of seconds".to_owned())
}

fn data_paths(args: &DataArgs) -> anyhow::Result<DataPaths> {
    let mut paths = DataPaths::from_env();
    if let Some(dir) = &args.course_data {
        paths.course = dir.clone();
    }
    if let Some(file) = &args.mnist {
        if !file.is_file() {
            bail!("--mnist {}: no such file", file.display());
        }
        paths.mnist = Some(std::path::absolute(file).unwrap_or_else(|_| file.clone()));
    }
    Ok(paths)
}

fn check(args: &CheckArgs) -> anyhow::Result<bool> {
    let paths = data_paths(&args.data)?;
    let cases = cases::cases(&args.assignment, &paths, CaseOptions { seed: args.seed })?;
    let cwd = std::env::current_dir().context("the current directory")?;
    let solution = invocation(&args.command, &cwd);
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "npfl138 check {}: {} cases; solution: {}",
        args.assignment,
        cases.len(),
        std::iter::once(solution.program.display().to_string())
            .chain(solution.args.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ")
    )?;
    if let Some(case) = cases.first() {
        writeln!(out, "comparison: {}", case.rule)?;
    }
    let mut results = Vec::with_capacity(cases.len());
    for case in &cases {
        let result = check_case(case, &solution, args.timeout)
            .with_context(|| format!("case {}", case.name))?;
        writeln!(out, "{result}")?;
        out.flush()?;
        results.push(result);
    }
    let summary = Summary {
        assignment: &args.assignment,
        results: &results,
    };
    writeln!(out, "{summary}")?;
    Ok(summary.passed())
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
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(&root).arg("test");
    match assignment {
        Some(a) => {
            cmd.args(["-p", "npfl138"]);
            for test in [a] {
                if root.join("tests").join(format!("{test}.rs")).is_file() {
                    cmd.args(["--test", test]);
                }
            }
        }
        None => {
            cmd.arg("--workspace");
        }
    }
    cmd.env("NPFL138_REGENERATE", "1")
        .env("INSTA_UPDATE", "always")
        .env_remove("CI");
    eprintln!(
        "running NPFL138_REGENERATE=1 INSTA_UPDATE=always {:?} in {}",
        cmd.get_args().collect::<Vec<_>>(),
        root.display()
    );
    let mut status = cmd
        .status()
        .with_context(|| format!("running {}", cargo.to_string_lossy()))?;
    if !status.success() {
        // A test may have read a file that another test rewrote in the same run: once more.
        eprintln!("rerunning once: a test may have read an output rewritten during the first run");
        status = cmd
            .status()
            .with_context(|| format!("running {}", cargo.to_string_lossy()))?;
    }
    let mut removed = Vec::new();
    remove_snap_new(&root, &mut removed).context("removing stray .snap.new files")?;
    for p in &removed {
        eprintln!("removed {}", p.display());
    }
    if !status.success() {
        bail!("the grader suite failed while regenerating ({status}); see its output above");
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
    let cli = Cli::parse();
    let result = match &cli.command {
        Cmd::Check(args) => check(args),
        Cmd::List(args) => list(args).map(|()| true),
        Cmd::Regenerate { assignment } => regenerate(assignment.as_deref()).map(|()| true),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        // `npfl138 list | head`: a closed stdout is not an error worth reporting.
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("npfl138: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
