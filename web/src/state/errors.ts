// Errors are shown, never swallowed: every failure lands here and in the error bar.

import { ApiError } from "../api/http";
import { Observable } from "./observable";

export interface ShownError {
  id: number;
  message: string;
}

export class ErrorStore extends Observable {
  items: ShownError[] = [];
  private next = 1;

  report(err: unknown, context = ""): void {
    if (err instanceof ApiError && err.status === 401) return; // the token prompt handles it
    const text = err instanceof Error ? err.message : String(err);
    const message = context ? `${context}: ${text}` : text;
    if (this.items.some((e) => e.message === message)) return;
    this.items = [...this.items.slice(-4), { id: this.next++, message }];
    this.changed();
  }

  dismiss(id: number): void {
    this.items = this.items.filter((e) => e.id !== id);
    this.changed();
  }
}
