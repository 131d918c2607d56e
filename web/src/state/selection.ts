// Which runs are selected: clicks in charts and rows in the table both go through here.

export interface ClickMods {
  /** ctrl or cmd: add or remove one run. */
  additive?: boolean;
  /** shift: the range from the last selected run, in `order`. */
  range?: boolean;
}

export function clickSelect(
  selected: readonly string[],
  id: string,
  mods: ClickMods = {},
  order: readonly string[] = [],
): string[] {
  if (mods.range && selected.length) {
    const anchor = selected[selected.length - 1]!;
    const a = order.indexOf(anchor);
    const b = order.indexOf(id);
    if (a >= 0 && b >= 0) {
      const span = order.slice(Math.min(a, b), Math.max(a, b) + 1);
      const rest = selected.filter((s) => !span.includes(s));
      return [...rest, ...(a <= b ? span : span.reverse())];
    }
  }
  if (mods.additive) {
    return selected.includes(id) ? selected.filter((s) => s !== id) : [...selected, id];
  }
  return [id];
}

/** Drop selected runs that are no longer shown (archived, filtered out). */
export function keepVisible(selected: readonly string[], visible: ReadonlySet<string>): string[] {
  const kept = selected.filter((s) => visible.has(s));
  return kept.length === selected.length ? (selected as string[]) : kept;
}

export function sameSelection(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
