//! Every benchmark, and the only place that names the groups. A new group
//! is a module with a `GROUP` and a `benches()` function, added here. The
//! table orders rows by workload, then limit / toolkit / peer, then by this
//! order.

use crate::harness::Bench;
use crate::rows::{limits, peers, toolkit};

pub fn all() -> Vec<Bench> {
    let mut all = limits::benches();
    all.extend(peers::benches());
    all.extend(toolkit::benches());
    all.extend(toolkit::queue::benches());
    all.extend(toolkit::pipe::benches());
    all.extend(toolkit::manager::benches());
    all.extend(toolkit::pool::benches());
    all.extend(toolkit::python::benches());
    all.extend(toolkit::remote::benches());
    all
}

#[cfg(test)]
mod tests {
    //! The registry as a whole: consistent, and planned as the harness
    //! promises.

    use super::all;
    use crate::harness::{Kind, Selection, Workload, plan, validate};

    #[test]
    fn registry_is_consistent() {
        validate(&all()).unwrap();
    }

    #[test]
    fn peers_compare_to_a_limit_of_their_workload_or_none() {
        let reg = all();
        for b in reg.iter().filter(|b| b.kind() == Kind::Peer) {
            for r in b.compare_to {
                let r = reg.iter().find(|x| x.id == *r).unwrap();
                assert_eq!(r.kind(), Kind::Limit, "{}", b.id);
                assert_eq!(r.workload, b.workload, "{}", b.id);
            }
        }
    }

    #[test]
    fn plan_pulls_in_references() {
        let reg = all();
        let sel = Selection {
            benches: vec!["core_mutex_pingpong".into()],
            ..Selection::default()
        };
        let ids: Vec<_> = plan(&reg, &sel).unwrap().iter().map(|b| b.id).collect();
        assert_eq!(ids, ["limit_spin_pingpong", "core_mutex_pingpong"]);
        let bad = Selection {
            groups: vec!["nope".into()],
            ..Selection::default()
        };
        assert!(plan(&reg, &bad).is_err());
    }

    #[test]
    fn plan_is_grouped_by_workload() {
        let reg = all();
        let all = plan(&reg, &Selection::default()).unwrap();
        assert_eq!(all.len(), reg.len());
        assert!(all.is_sorted_by_key(|b| (b.workload, b.kind())));
        let sel = Selection {
            workloads: vec!["pingpong-blocking".into()],
            ..Selection::default()
        };
        let one = plan(&reg, &sel).unwrap();
        // The workload's rows plus the spin limit its futex limit refers to.
        assert!(one.iter().any(|b| b.id == "limit_futex_pingpong"));
        assert!(one.iter().any(|b| b.id == "limit_spin_pingpong"));
        assert!(
            one.iter()
                .all(|b| b.workload == Workload::PingpongBlocking || b.id == "limit_spin_pingpong")
        );
    }
}
