import DequeModule
import Synchronization

/// Guarantees that work items with the same key never run at the same time: a second item
/// for a busy key waits in that key's queue and is run by the task that holds the key.
final class KeyedSerializer<Item: Sendable>: Sendable {
    private let queues = Mutex<[String: Deque<Item>]>([:])

    /// Returns true when the caller must start a task for the item; false when it was queued
    /// behind a running item with the same key.
    func submit(_ item: Item, key: String) -> Bool {
        queues.withLock { queues in
            if queues[key] != nil {
                queues[key]!.append(item)
                return false
            }
            queues[key] = []
            return true
        }
    }

    /// Called by the task holding `key` when it finishes an item: the next item for the key,
    /// or nil (and the key is released).
    func next(after key: String) -> Item? {
        queues.withLock { queues in
            guard let first = queues[key]?.popFirst() else {
                queues[key] = nil
                return nil
            }
            return first
        }
    }
}
