//! Sets of completion indexes as ordered intervals, the compressed form upstream writes to
//! `status.completedIndexes` and `status.failedIndexes` (`"1,3-5,7"`; two adjacent indexes are
//! written `"1,2"`, three or more as a range).

use std::fmt;

/// Ordered, non-overlapping, non-adjacent closed intervals of indexes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Intervals(Vec<(i32, i32)>);

impl Intervals {
    /// Parses `text`, dropping indexes at or above `completions` and corrupted parts, as
    /// upstream does when it reads back its own status.
    pub fn parse(text: &str, completions: i32) -> Intervals {
        let mut result: Vec<(i32, i32)> = Vec::new();
        if text.is_empty() {
            return Intervals(result);
        }
        for part in text.split(',') {
            let mut limits = part.splitn(2, '-');
            let Some(Ok(first)) = limits.next().map(str::parse::<i32>) else {
                continue;
            };
            if first >= completions {
                break;
            }
            let last = match limits.next() {
                Some(text) => match text.parse::<i32>() {
                    Ok(last) => last.min(completions - 1),
                    Err(_) => continue,
                },
                None => first,
            };
            match result.last_mut() {
                Some(previous) if previous.1 == first - 1 => previous.1 = last,
                _ => result.push((first, last)),
            }
        }
        Intervals(result)
    }

    /// These intervals plus `indexes` (given in increasing order).
    pub fn with_indexes(&self, indexes: &[i32]) -> Intervals {
        let added = Intervals(indexes.iter().map(|i| (*i, *i)).collect());
        self.merge(&added)
    }

    /// The union of two interval sets.
    pub fn merge(&self, other: &Intervals) -> Intervals {
        let mut all: Vec<(i32, i32)> = self.0.iter().chain(other.0.iter()).copied().collect();
        all.sort_unstable();
        let mut result: Vec<(i32, i32)> = Vec::with_capacity(all.len());
        for interval in all {
            match result.last_mut() {
                Some(last) if interval.0 <= last.1 + 1 => last.1 = last.1.max(interval.1),
                _ => result.push(interval),
            }
        }
        Intervals(result)
    }

    /// How many indexes the set holds.
    pub fn total(&self) -> i32 {
        self.0.iter().map(|(first, last)| last - first + 1).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn has(&self, index: i32) -> bool {
        let at = self.0.partition_point(|(_, last)| *last < index);
        self.0.get(at).is_some_and(|(first, _)| *first <= index)
    }

    /// The first `count` indexes below `completions` that this set does not hold.
    pub fn first_missing(&self, count: usize, completions: i32) -> Vec<i32> {
        let mut result = Vec::with_capacity(count);
        let mut candidate = 0;
        for (first, last) in &self.0 {
            while candidate < completions && result.len() < count && candidate < *first {
                result.push(candidate);
                candidate += 1;
            }
            candidate = candidate.max(last + 1);
        }
        while candidate < completions && result.len() < count {
            result.push(candidate);
            candidate += 1;
        }
        result
    }

    /// How many indexes of `rule` this set holds: the `succeededIndexes` rule of a success
    /// policy is met when it holds all of them, or at least `count` when one is given.
    pub fn covers(&self, rule: &Intervals, count: Option<i32>) -> bool {
        let held: i32 = rule
            .0
            .iter()
            .map(|(rf, rl)| {
                self.0
                    .iter()
                    .map(|(sf, sl)| (rl.min(sl) - rf.max(sf) + 1).max(0))
                    .sum::<i32>()
            })
            .sum();
        held == rule.total() || count.is_some_and(|c| held >= c)
    }
}

impl fmt::Display for Intervals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (first, last)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{first}")?;
            if last > first {
                let separator = if *last == first + 1 { "," } else { "-" };
                write!(f, "{separator}{last}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_upstream_form() {
        let set = Intervals::parse("0,2-4,6,7", 10);
        assert_eq!(set.to_string(), "0,2-4,6,7");
        assert_eq!(set.total(), 6);
        assert!(set.has(3) && !set.has(5) && set.has(7) && !set.has(9));
        assert_eq!(Intervals::parse("1-20", 5).to_string(), "1-4");
        assert_eq!(Intervals::parse("x,3", 5).to_string(), "3");
        assert_eq!(Intervals::parse("", 5), Intervals::default());
    }

    #[test]
    fn adds_indexes_and_merges_neighbours() {
        let set = Intervals::parse("0,4", 10).with_indexes(&[1, 2, 3, 8]);
        assert_eq!(set.to_string(), "0-4,8");
        assert_eq!(
            Intervals::default().with_indexes(&[5, 6]).to_string(),
            "5,6"
        );
    }

    #[test]
    fn finds_pending_indexes() {
        let set = Intervals::parse("0,2-3", 6);
        assert_eq!(set.first_missing(2, 6), vec![1, 4]);
        assert_eq!(set.first_missing(10, 6), vec![1, 4, 5]);
        assert_eq!(Intervals::default().first_missing(2, 1), vec![0]);
    }

    #[test]
    fn success_policy_rules() {
        let succeeded = Intervals::parse("0-2,5", 10);
        assert!(succeeded.covers(&Intervals::parse("0,1", 10), None));
        assert!(!succeeded.covers(&Intervals::parse("0-5", 10), None));
        assert!(succeeded.covers(&Intervals::parse("0-5", 10), Some(4)));
    }
}
