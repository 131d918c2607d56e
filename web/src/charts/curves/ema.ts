// Smoothing of a curve: an exponential moving average, debiased as TensorBoard does (the
// first points are not dragged towards 0), kept per point so a live append costs O(1)
// and an insertion in the middle recomputes only the points after it.

export interface EmaState {
  /** The undebiased average so far. */
  last: number;
  /** Finite values averaged so far. */
  count: number;
}

export const EMA_START: EmaState = { last: 0, count: 0 };

/** The state after `value` (a gap — null or not finite — leaves the state as it was) and
 *  the smoothed value there (null at a gap). `weight` 0 is no smoothing; 0.99 is heavy. */
export function emaStep(state: EmaState, value: number | null, weight: number): [EmaState, number | null] {
  if (value === null || !Number.isFinite(value)) return [state, null];
  if (weight <= 0) return [{ last: value, count: state.count + 1 }, value];
  const last = state.last * weight + (1 - weight) * value;
  const count = state.count + 1;
  return [{ last, count }, last / (1 - weight ** count)];
}

/** The smoothed values of a whole curve (points in x order). */
export function ema(values: readonly (number | null)[], weight: number): (number | null)[] {
  let state = EMA_START;
  return values.map((v) => {
    const [next, out] = emaStep(state, v, weight);
    state = next;
    return out;
  });
}
