/// An error whose cause may pass by itself: a git host or a container engine out of reach,
/// a daemon restarting. A build that failed on one before its script ran can be started
/// again without running anything twice.
public protocol TransientError: Error {}
