//! One solution's check as a whole ([`Report`]): the text report, the machine-readable JSON
//! result (`check --json`, one file per submission in `grade`), JUnit XML (`--junit`), and the
//! gradebook CSV that `grade` and `gradebook` make from JSON results.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::check::{CaseResult, Status, Summary, Verdict};
use crate::runner::{Isolation, Limits};

/// The JSON result's format version.
pub const FORMAT: u32 = 1;

/// Everything known about one solution's check.
#[derive(Debug, Clone)]
pub struct Report {
    /// The assignment.
    pub assignment: String,
    /// The solution as shown (a command or a submission's path).
    pub solution: String,
    /// The submission's name in a gradebook (its file or folder name).
    pub name: String,
    /// The seed of the generated hidden cases, when the assignment has such.
    pub seed: Option<u32>,
    /// The limits (the time limit is each case's own unless `time_limit`).
    pub limits: Limits,
    /// The time limit set for every case, if any.
    pub time_limit: Option<std::time::Duration>,
    /// What isolation applied.
    pub isolation: Isolation,
    /// Why the submission was rejected before anything ran.
    pub rejected: Option<String>,
    /// The cases' results.
    pub results: Vec<CaseResult>,
}

impl Report {
    /// The summary of the results.
    pub fn summary(&self) -> Summary<'_> {
        Summary {
            assignment: &self.assignment,
            results: &self.results,
        }
    }

    /// PASSED, FAILED, INCOMPLETE or REJECTED.
    pub fn status(&self) -> Status {
        if self.rejected.is_some() {
            Status::Rejected
        } else {
            self.summary().status()
        }
    }

    /// The JSON result.
    pub fn to_json(&self) -> Value {
        let (earned, total) = self.summary().points();
        let cases: Vec<Value> = self
            .results
            .iter()
            .map(|r| {
                json!({
                    "name": r.case.name,
                    "args": r.case.args,
                    "verdict": r.verdict.word(),
                    "points": r.earned(),
                    "max_points": r.case.points,
                    "time_s": r.elapsed.map(|d| d.as_secs_f64()),
                    "time_limit_s": r.limits.time.as_secs_f64(),
                    "peak_memory_bytes": r.elapsed.map(|_| r.peak_memory),
                    "detail": r.verdict.detail(),
                    "stdout_head": r.stdout_head,
                    "stdout_last_line": r.stdout_last,
                    "output_truncated": r.truncated,
                })
            })
            .collect();
        json!({
            "format": FORMAT,
            "assignment": self.assignment,
            "submission": self.name,
            "solution": self.solution,
            "status": self.status(),
            "points": earned,
            "max_points": total,
            "seed": self.seed,
            "rejected": self.rejected,
            "limits": {
                "memory_bytes": self.limits.memory,
                "output_bytes": self.limits.output,
                "file_size_bytes": self.limits.file_size,
                "processes": self.limits.processes,
                "network": self.limits.network,
                "description": self.isolation.describe(&self.limits, self.time_limit),
                "missing": self.isolation.missing(&self.limits),
            },
            "isolation": self.isolation,
            "cases": cases,
        })
    }

    /// JUnit XML: one test suite, one test case per case (skipped cases as skipped).
    pub fn to_junit(&self) -> String {
        use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};
        let mut suite = TestSuite::new(format!("npfl138 check {}", self.assignment));
        if let Some(reason) = &self.rejected {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status.set_message(reason.as_str()).set_type("REJECTED");
            suite.add_test_case(TestCase::new("submission", status));
        }
        for r in &self.results {
            let mut status = match &r.verdict {
                Verdict::Ok => TestCaseStatus::success(),
                Verdict::Skipped(_) => TestCaseStatus::skipped(),
                _ => TestCaseStatus::non_success(NonSuccessKind::Failure),
            };
            if r.verdict != Verdict::Ok {
                status
                    .set_message(r.verdict.detail())
                    .set_type(r.verdict.word());
            }
            let mut case = TestCase::new(r.case.name.as_str(), status);
            case.set_classname(self.assignment.as_str());
            if let Some(elapsed) = r.elapsed {
                case.set_time(elapsed);
            }
            suite.add_test_case(case);
        }
        let mut report = quick_junit::Report::new("npfl138");
        report.add_test_suite(suite);
        report
            .to_string()
            .unwrap_or_else(|e| format!("<!-- JUnit serialisation failed: {e} -->\n"))
    }
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// The gradebook CSV of JSON results (one row per submission, sorted by name): the points of each
/// case, the total, the status and the verdicts.
///
/// # Errors
/// Results of different assignments, or a JSON value that is not a result.
pub fn gradebook(results: &[Value]) -> Result<String, String> {
    let mut rows: Vec<&Value> = results.iter().collect();
    rows.sort_by(|a, b| a["submission"].as_str().cmp(&b["submission"].as_str()));
    // Case names from a result that has cases (a rejected submission has none).
    let Some(first) = rows
        .iter()
        .find(|r| r["cases"].as_array().is_some_and(|c| !c.is_empty()))
        .or(rows.first())
    else {
        return Err("no results".to_owned());
    };
    let assignment = first["assignment"]
        .as_str()
        .ok_or("not an npfl138 result")?;
    let case_names: Vec<String> = first["cases"]
        .as_array()
        .ok_or("not an npfl138 result: no cases")?
        .iter()
        .filter_map(|c| c["name"].as_str().map(str::to_owned))
        .collect();
    let mut csv = String::from("submission");
    for name in &case_names {
        let _ = write!(csv, ",{name}");
    }
    csv.push_str(",total,max,status,verdicts\n");
    for row in rows {
        let name = row["submission"]
            .as_str()
            .ok_or("a result has no submission name")?;
        if row["assignment"].as_str() != Some(assignment) {
            return Err(format!(
                "{name}: assignment {} where the others are {assignment}",
                row["assignment"]
            ));
        }
        let cases = row["cases"].as_array().cloned().unwrap_or_default();
        let _ = write!(csv, "{}", csv_field(name));
        let mut verdicts = Vec::new();
        for case_name in &case_names {
            match cases.iter().find(|c| c["name"].as_str() == Some(case_name)) {
                Some(c) => {
                    let _ = write!(csv, ",{:.2}", c["points"].as_f64().unwrap_or(0.0));
                    verdicts.push(format!(
                        "{case_name}={}",
                        c["verdict"].as_str().unwrap_or("?")
                    ));
                }
                None => csv.push_str(",0.00"),
            }
        }
        let status = row["status"].as_str().unwrap_or("?");
        let _ = writeln!(
            csv,
            ",{:.2},{:.2},{status},{}",
            row["points"].as_f64().unwrap_or(0.0),
            row["max_points"].as_f64().unwrap_or(0.0),
            csv_field(&verdicts.join(" "))
        );
    }
    Ok(csv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_when_needed() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }

    #[test]
    fn gradebook_rows_are_sorted_and_checked() {
        let result = |name: &str, assignment: &str, points: f64| {
            json!({
                "assignment": assignment, "submission": name, "status": "PASSED",
                "points": points, "max_points": 1.0,
                "cases": [{"name": "t1", "points": points, "verdict": "OK"}],
            })
        };
        let csv = gradebook(&[result("b", "x", 1.0), result("a,1", "x", 0.5)]).unwrap();
        assert_eq!(
            csv,
            "submission,t1,total,max,status,verdicts\n\"a,1\",0.50,0.50,1.00,PASSED,t1=OK\nb,1.00,1.00,1.00,PASSED,t1=OK\n"
        );
        assert!(gradebook(&[result("a", "x", 1.0), result("b", "y", 1.0)]).is_err());
        assert!(gradebook(&[]).is_err());
    }
}
