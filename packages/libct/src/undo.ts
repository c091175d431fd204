/**
 * Multi-step setup that undoes itself on failure (incus `revert`):
 *   await using undo = new UndoStack(); ...; undo.push(() => remove()); ...; undo.release();
 * Steps run in reverse order unless released; a failing step is reported and the rest still run.
 */
export type UndoStep = () => unknown | Promise<unknown>;

export class UndoStack implements AsyncDisposable {
  private steps: UndoStep[] = [];
  constructor(
    private readonly onStepError: (err: unknown) => void = (err) => console.error("undo step failed:", err),
  ) {}

  push(step: UndoStep): void {
    this.steps.push(step);
  }

  /** Success: keep everything that was done. */
  release(): void {
    this.steps = [];
  }

  async run(): Promise<void> {
    const steps = this.steps.reverse();
    this.steps = [];
    for (const step of steps) {
      try {
        await step();
      } catch (err) {
        this.onStepError(err);
      }
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.run();
  }
}
