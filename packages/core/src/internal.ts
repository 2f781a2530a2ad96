/**
 * Symbols for methods that other modules of this package call on a lifecycle but users must not:
 * not exported from the package's entry point.
 */

/** The drain is a hand-over: another process accepts on the same listening socket. */
export const kHandover: unique symbol = Symbol('lameduck.handover');

/** Exit the process after a hand-over's drain, through the same exit bookkeeping as a signal. */
export const kExitAfter: unique symbol = Symbol('lameduck.exitAfter');
