/**
 * Symbols for methods that other modules of this package call on a lifecycle but users must not:
 * not exported from the package's entry point.
 */

/** The drain is a hand-over: another process accepts on the same listening socket. */
export const kHandover: unique symbol = Symbol('lameduck.handover');

/** True when the lifecycle owns the process's signals and may exit the process. */
export const kOwnsExit: unique symbol = Symbol('lameduck.ownsExit');
