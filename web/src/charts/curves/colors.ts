// A run's colour: the same in every chart and list that tells runs apart (the overlay's
// lines, its legend and hover, the runs table's marker), chosen by run number so it does
// not change as runs are filtered, selected or re-sorted.

const PALETTE = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2",
  "#b279a2", "#eeca3b", "#9d755d", "#ff9da6", "#79706e"];

export function runColor(number: number): string {
  return PALETTE[((Math.trunc(number) % PALETTE.length) + PALETTE.length) % PALETTE.length]!;
}
