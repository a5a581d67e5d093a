//! Which rows a run measures: the selection, the plan it resolves to, and
//! the registry's consistency check.

use std::collections::HashSet;

use super::bench::{Bench, Workload};

/// Which benchmarks to run; empty lists select everything.
#[derive(Default, Debug)]
pub struct Selection {
    pub groups: Vec<String>,
    pub workloads: Vec<String>,
    pub benches: Vec<String>,
}

/// Resolves a selection against the registry: the selected rows plus, for
/// ratios, every row they compare to (transitively). The plan is ordered by
/// workload (the order of [`Workload::ALL`]), then limits, toolkit rows and
/// peers, then registry order, so that a workload's rows run and print
/// together.
pub fn plan<'a>(registry: &'a [Bench], sel: &Selection) -> Result<Vec<&'a Bench>, String> {
    for g in &sel.groups {
        if !registry.iter().any(|b| b.group.name == g) {
            return Err(format!("unknown group {g:?} (see --list)"));
        }
    }
    let mut workloads = Vec::new();
    for w in &sel.workloads {
        match Workload::from_slug(w) {
            Some(w) => workloads.push(w),
            None => return Err(format!("unknown workload {w:?} (see --list)")),
        }
    }
    for id in &sel.benches {
        if !registry.iter().any(|b| b.id == id) {
            return Err(format!("unknown bench {id:?} (see --list)"));
        }
    }
    let all = sel.groups.is_empty() && sel.benches.is_empty() && workloads.is_empty();
    let mut wanted: HashSet<&str> = registry
        .iter()
        .filter(|b| {
            all || sel.groups.iter().any(|g| g == b.group.name)
                || workloads.contains(&b.workload)
                || sel.benches.iter().any(|i| i == b.id)
        })
        .map(|b| b.id)
        .collect();
    // Pull in references until nothing new appears.
    loop {
        let refs: Vec<&str> = registry
            .iter()
            .filter(|b| wanted.contains(b.id))
            .flat_map(|b| b.compare_to.iter().copied())
            .filter(|r| !wanted.contains(r))
            .collect();
        if refs.is_empty() {
            break;
        }
        wanted.extend(refs);
    }
    let mut plan: Vec<&Bench> = registry.iter().filter(|b| wanted.contains(b.id)).collect();
    // Stable: registry order survives within a workload and kind.
    plan.sort_by_key(|b| (b.workload, b.kind()));
    Ok(plan)
}

/// Checks the registry's internal consistency (a programming error otherwise).
pub fn validate(registry: &[Bench]) -> Result<(), String> {
    let mut seen = HashSet::new();
    for b in registry {
        if !seen.insert(b.id) {
            return Err(format!("duplicate bench id {}", b.id));
        }
        if b.iters.full == 0 || b.iters.quick == 0 {
            return Err(format!("{}: zero iterations", b.id));
        }
        for r in b.compare_to {
            match registry.iter().find(|x| x.id == *r) {
                None => return Err(format!("{}: compares to unknown {r}", b.id)),
                Some(x) if x.metric != b.metric => {
                    return Err(format!(
                        "{}: compares to {r}, which has another metric",
                        b.id
                    ));
                }
                Some(_) => {}
            }
        }
    }
    Ok(())
}
