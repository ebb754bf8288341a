//! Splitting whole numbers by weights: the largest remainder method, with caps, and smooth
//! weighted round robin to interleave shares evenly.

/// Splits `total` into parts proportional to `weights` (non-negative, not all 0): each part is
/// its exact quota rounded down, and the units left over go to the largest remainders (ties to
/// the lower index). Every part is within one of its quota; the parts add up to `total`. All
/// weights 0 (or none): all parts 0.
pub fn apportion(total: u64, weights: &[f64]) -> Vec<u64> {
    let sum: f64 = weights.iter().filter(|w| w.is_finite() && **w > 0.0).sum();
    if sum <= 0.0 {
        return vec![0; weights.len()];
    }
    let quota = |w: f64| {
        if w.is_finite() && w > 0.0 {
            total as f64 * w / sum
        } else {
            0.0
        }
    };
    let mut parts: Vec<u64> = weights.iter().map(|&w| quota(w).floor() as u64).collect();
    let given: u64 = parts.iter().sum();
    let mut order: Vec<usize> = (0..weights.len())
        .filter(|&i| quota(weights[i]) > 0.0)
        .collect();
    // Largest remainder first; the index breaks ties, so the split is deterministic.
    order.sort_by(|&a, &b| {
        let ra = quota(weights[a]) - parts[a] as f64;
        let rb = quota(weights[b]) - parts[b] as f64;
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    let mut left = total.saturating_sub(given);
    // Rounding can leave a unit or two beyond the remainders; cycle until all are given.
    while left > 0 && !order.is_empty() {
        for &i in &order {
            if left == 0 {
                break;
            }
            parts[i] += 1;
            left -= 1;
        }
    }
    parts
}

/// [`apportion`] with each part at most `caps[i]`: parts over their cap are fixed at it and the
/// rest is split again among the others. `None` when the caps add up to less than `total`.
pub fn apportion_capped(total: u64, weights: &[f64], caps: &[u64]) -> Option<Vec<u64>> {
    if caps
        .iter()
        .zip(weights)
        .filter(|(_, w)| **w > 0.0)
        .map(|(c, _)| *c)
        .sum::<u64>()
        < total
    {
        return None;
    }
    let mut fixed: Vec<Option<u64>> = vec![None; weights.len()];
    loop {
        let left = total - fixed.iter().flatten().sum::<u64>();
        let open: Vec<f64> = weights
            .iter()
            .zip(&fixed)
            .map(|(&w, f)| if f.is_some() { 0.0 } else { w })
            .collect();
        let parts = apportion(left, &open);
        let mut over = false;
        for i in 0..weights.len() {
            if fixed[i].is_none() && parts[i] > caps[i] {
                fixed[i] = Some(caps[i]);
                over = true;
            }
        }
        if !over {
            return Some(
                parts
                    .iter()
                    .zip(&fixed)
                    .map(|(&p, f)| f.unwrap_or(p))
                    .collect(),
            );
        }
    }
}

/// Deals `counts.iter().sum()` slots out to owners 0.. so that owner i gets `counts[i]` of them,
/// interleaved as evenly as smooth weighted round robin does (nginx's): at every prefix each
/// owner has within about one slot of its exact share.
pub fn interleave(counts: &[u64]) -> Vec<usize> {
    let total: u64 = counts.iter().sum();
    let total_i = i128::from(total);
    let mut current = vec![0i128; counts.len()];
    let mut owners = Vec::with_capacity(total as usize);
    for _ in 0..total {
        for (c, &n) in current.iter_mut().zip(counts) {
            *c += i128::from(n);
        }
        // The largest current value; the lower index wins ties.
        let mut pick = 0;
        for i in 1..counts.len() {
            if current[i] > current[pick] {
                pick = i;
            }
        }
        current[pick] -= total_i;
        owners.push(pick);
    }
    owners
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apportion_rounds_by_largest_remainder() {
        assert_eq!(apportion(10, &[1.0, 1.0, 1.0]), [4, 3, 3]);
        assert_eq!(apportion(7, &[2.0, 1.0]), [5, 2]);
        assert_eq!(apportion(5, &[0.0, 1.0]), [0, 5]);
        assert_eq!(apportion(5, &[0.0, 0.0]), [0, 0]);
        assert_eq!(apportion(0, &[1.0]), [0]);
    }

    #[test]
    fn caps_move_the_excess_to_the_others() {
        assert_eq!(
            apportion_capped(10, &[1.0, 1.0], &[2, 100]),
            Some(vec![2, 8])
        );
        assert_eq!(apportion_capped(10, &[1.0, 1.0], &[2, 3]), None);
        assert_eq!(
            apportion_capped(3, &[1.0, 0.0], &[2, 5]),
            None,
            "a weight 0 takes nothing"
        );
    }

    #[test]
    fn interleave_spreads_owners() {
        assert_eq!(interleave(&[2, 2]), [0, 1, 0, 1]);
        assert_eq!(interleave(&[1, 2]), [1, 0, 1]);
        assert_eq!(interleave(&[0, 3]), [1, 1, 1]);
    }
}
