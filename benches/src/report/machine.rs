//! Where and when a run happened, for the report's and the chart's headings.

use std::time::{SystemTime, UNIX_EPOCH};

/// The facts printed above a report.
pub struct Machine {
    /// `YYYY-MM-DD HH:MM UTC`.
    pub date: String,
    pub host: String,
    pub cpu: String,
    /// Logical CPUs this process may run on.
    pub vcpus: usize,
    pub kernel: String,
    /// Further facts about the run, each printed after the kernel in the
    /// report (e.g. the Python version the peer rows ran with); filled in
    /// by the caller, empty from [`Machine::now`].
    pub extra: Vec<String>,
}

impl Machine {
    pub fn now() -> Machine {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Machine {
            date: utc_date(secs),
            host: read_trimmed("/proc/sys/kernel/hostname").unwrap_or_else(|| "unknown".into()),
            cpu: cpu_model().unwrap_or_else(|| std::env::consts::ARCH.into()),
            vcpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            kernel: read_trimmed("/proc/sys/kernel/osrelease").unwrap_or_default(),
            extra: Vec::new(),
        }
    }

    /// One line: `2026-11-24 14:30 UTC, host h, Intel(R) Xeon(R) Processor, 2 vCPU`.
    pub fn summary(&self) -> String {
        format!(
            "{}, host {}, {}, {} vCPU",
            self.date, self.host, self.cpu, self.vcpus
        )
    }
}

fn read_trimmed(path: &str) -> Option<String> {
    let s = std::fs::read_to_string(path).ok()?;
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// Seconds since the epoch as `YYYY-MM-DD HH:MM UTC` (proleptic Gregorian,
/// the days-to-civil algorithm of H. Hinnant's date library).
pub fn utc_date(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let (hh, mm) = ((secs % 86_400) / 3600, (secs % 3600) / 60);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02} UTC")
}

#[cfg(test)]
mod tests {
    use super::utc_date;

    #[test]
    fn dates() {
        assert_eq!(utc_date(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc_date(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(utc_date(1_700_000_000), "2023-11-14 22:13 UTC");
    }
}
