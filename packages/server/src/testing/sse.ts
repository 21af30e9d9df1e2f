/** Reading a `text/event-stream` answer (the state watch) in tests. */

export interface SseEvent {
  event: string;
  data: any;
}

/**
 * Read an SSE body one event at a time: `next()` is the next `{event, data}` (keep-alive comments skipped), or
 * null once the stream has ended (or was cut off).
 */
export function eventStream(res: Response): { next(): Promise<SseEvent | null> } {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  return {
    async next() {
      for (;;) {
        const end = buffer.indexOf('\n\n');
        if (end >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event && data) return { event, data: JSON.parse(data) };
          continue; // a keep-alive comment
        }
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
        if (done) return null;
        buffer += value;
      }
    },
  };
}
