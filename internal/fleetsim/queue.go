package fleetsim

// action is what the generator does with an item when its time comes.
type action uint8

const (
	actEmit   action = iota // emit ev, an original event
	actCopy                 // emit msg, a copy of an earlier event
	actBook                 // maybe book car, then schedule its next booking
	actStatus               // maybe change car's status, then schedule the next change
)

// item is an entry of the generator's queue, due at a Unix time in
// nanoseconds. Items due at the same time come out in the order they went
// in, which keeps a simulation deterministic.
type item struct {
	at    int64
	order uint64
	what  action
	car   *car
	ev    *event
	msg   *Message
}

func (a *item) before(b *item) bool {
	return a.at < b.at || (a.at == b.at && a.order < b.order)
}

// queue is a binary min-heap of items, typed to avoid the interface
// conversions of container/heap on the generator's hot path.
type queue struct {
	items []item
	order uint64
}

func (q *queue) len() int { return len(q.items) }

func (q *queue) push(it item) {
	q.order++
	it.order = q.order
	q.items = append(q.items, it)
	i := len(q.items) - 1
	for i > 0 {
		parent := (i - 1) / 2
		if !q.items[i].before(&q.items[parent]) {
			break
		}
		q.items[i], q.items[parent] = q.items[parent], q.items[i]
		i = parent
	}
}

func (q *queue) pop() item {
	top := q.items[0]
	last := len(q.items) - 1
	q.items[0] = q.items[last]
	q.items[last] = item{} // drop references for the garbage collector
	q.items = q.items[:last]
	q.down(0)
	return top
}

func (q *queue) down(i int) {
	n := len(q.items)
	for {
		least := 2*i + 1
		if least >= n {
			return
		}
		if r := least + 1; r < n && q.items[r].before(&q.items[least]) {
			least = r
		}
		if !q.items[least].before(&q.items[i]) {
			return
		}
		q.items[i], q.items[least] = q.items[least], q.items[i]
		i = least
	}
}
