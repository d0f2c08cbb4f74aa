package planner

// heapOf is a binary min-heap. container/heap would need an interface value
// per element type; this one keeps the ordering in a func and lets callers
// update the top element's key in place (fixTop), which is all placement needs.
type heapOf[T any] struct {
	items []T
	less  func(a, b T) bool
}

func newHeap[T any](items []T, less func(a, b T) bool) *heapOf[T] {
	h := &heapOf[T]{items: items, less: less}
	for i := len(items)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
	return h
}

func (h *heapOf[T]) len() int { return len(h.items) }
func (h *heapOf[T]) top() T   { return h.items[0] }

func (h *heapOf[T]) push(x T) {
	h.items = append(h.items, x)
	h.up(len(h.items) - 1)
}

func (h *heapOf[T]) pop() T {
	last := len(h.items) - 1
	h.items[0], h.items[last] = h.items[last], h.items[0]
	x := h.items[last]
	h.items = h.items[:last]
	h.down(0)
	return x
}

// fixTop restores the heap after the top element's key grew.
func (h *heapOf[T]) fixTop() { h.down(0) }

func (h *heapOf[T]) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(h.items[i], h.items[p]) {
			return
		}
		h.items[i], h.items[p] = h.items[p], h.items[i]
		i = p
	}
}

func (h *heapOf[T]) down(i int) {
	n := len(h.items)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && h.less(h.items[r], h.items[l]) {
			m = r
		}
		if !h.less(h.items[m], h.items[i]) {
			return
		}
		h.items[i], h.items[m] = h.items[m], h.items[i]
		i = m
	}
}
