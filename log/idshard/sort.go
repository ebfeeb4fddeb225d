package idshard

import "slices"

// sortLines sorts lines by identifier, then leaf: the order of a shard.
//
// Publishing the index sorts every new identifier, and comparing them as
// strings was most of its CPU: identifiers of a scheme share a long
// prefix ("geonames:", "national:FR:"), which every comparison walked
// again. A radix sort on the identifiers' bytes, most significant first,
// reads each byte of a line about once: a shared prefix costs one
// counting pass per byte, and runs short enough fall back to comparing.
func sortLines(lines []Line) {
	if len(lines) < smallRun {
		slices.SortFunc(lines, compare)
		return
	}
	radixSort(lines, make([]Line, len(lines)), 0)
}

// smallRun is the run length below which comparing costs less than
// another counting pass.
const smallRun = 16

// radixSort sorts lines, whose identifiers agree on their first depth
// bytes, using tmp (as long as lines) as scratch.
func radixSort(lines, tmp []Line, depth int) {
	for len(lines) >= smallRun {
		// Bucket 0 holds the identifiers that end at depth (they sort
		// first), bucket 1+b those whose byte at depth is b; only
		// buckets lo..hi are used.
		var count [257]int
		lo, hi := 256, 0
		for _, l := range lines {
			b := bucket(l.ID, depth)
			count[b]++
			lo, hi = min(lo, b), max(hi, b)
		}
		if lo == hi && lo > 0 {
			depth++ // one shared byte: nothing to move
			continue
		}
		var next [257]int
		for b, sum := lo, 0; b <= hi; b++ {
			next[b], sum = sum, sum+count[b]
		}
		for _, l := range lines {
			b := bucket(l.ID, depth)
			tmp[next[b]] = l
			next[b]++
		}
		copy(lines, tmp)
		// The identifiers that ended are all equal: order them by leaf.
		slices.SortFunc(lines[:count[0]], compare)
		for b, end := lo, 0; b <= hi; b++ {
			start := end
			end += count[b]
			if b > 0 && count[b] > 1 {
				radixSort(lines[start:end], tmp[:count[b]], depth+1)
			}
		}
		return
	}
	slices.SortFunc(lines, compare)
}

func bucket(id string, depth int) int {
	if depth < len(id) {
		return 1 + int(id[depth])
	}
	return 0
}
