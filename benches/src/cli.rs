//! Command-line options.

use std::path::PathBuf;

use crate::harness::Selection;

pub const USAGE: &str = "\
usage: ipc-bench [--quick] [--runs N] [--workload NAME]... [--group NAME]...
                 [--bench ID]... [--out DIR] [--list]

  --quick          few iterations per sample (CI smoke run, seconds)
  --runs N         samples per benchmark, at least 3 (default 5; 3 with --quick)
  --workload NAME  run only this workload: its limit, toolkit rows and peers
                   (repeatable; e.g. pingpong-blocking, tput-4KiB; see --list)
  --group NAME     run only this group, e.g. queue, iceoryx2, python (repeatable)
  --bench ID       run only this benchmark (repeatable)
                   Rows a selected row is compared to are run as well, so
                   its ratios can be computed.
  --out DIR        where report.md and chart.svg go (default: bench-report/
                   at the workspace root)
  --list           list the benchmarks by workload and exit
";

#[derive(Debug, Default)]
pub struct Options {
    pub quick: bool,
    pub runs: Option<u32>,
    pub select: Selection,
    pub out: Option<PathBuf>,
    pub list: bool,
    pub help: bool,
}

/// The fewest samples a median/min/max is reported from.
pub const MIN_RUNS: u32 = 3;

impl Options {
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Options, String> {
        let mut o = Options::default();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
            match arg.as_str() {
                "--quick" => o.quick = true,
                "--list" => o.list = true,
                "-h" | "--help" => o.help = true,
                "--runs" => {
                    let v = value("--runs")?;
                    let n: u32 = v
                        .parse()
                        .map_err(|_| format!("--runs: not a number: {v:?}"))?;
                    if n < MIN_RUNS {
                        return Err(format!("--runs must be at least {MIN_RUNS}"));
                    }
                    o.runs = Some(n);
                }
                "--group" => o.select.groups.push(value("--group")?),
                "--workload" => o.select.workloads.push(value("--workload")?),
                "--out" => o.out = Some(value("--out")?.into()),
                "--bench" => o.select.benches.push(value("--bench")?),
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        Ok(o)
    }

    pub fn runs(&self) -> u32 {
        self.runs.unwrap_or(if self.quick { MIN_RUNS } else { 5 })
    }

    pub fn out_dir(&self) -> PathBuf {
        self.out.clone().unwrap_or_else(crate::report::default_dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options, String> {
        Options::parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn parses_flags() {
        let o = parse(&[
            "--quick",
            "--group",
            "limits",
            "--bench",
            "x",
            "--runs",
            "7",
            "--workload",
            "tput-8B",
            "--out",
            "/tmp/r",
        ])
        .unwrap();
        assert_eq!(o.select.workloads, ["tput-8B"]);
        assert_eq!(o.out_dir(), PathBuf::from("/tmp/r"));
        assert!(o.quick);
        assert_eq!(o.runs(), 7);
        assert_eq!(o.select.groups, ["limits"]);
        assert_eq!(o.select.benches, ["x"]);
        assert_eq!(parse(&[]).unwrap().runs(), 5);
        assert_eq!(parse(&["--quick"]).unwrap().runs(), 3);
    }

    #[test]
    fn rejects_bad_input() {
        assert!(parse(&["--runs", "2"]).is_err());
        assert!(parse(&["--runs"]).is_err());
        assert!(parse(&["--frob"]).is_err());
    }
}
