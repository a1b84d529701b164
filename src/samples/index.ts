/** Teacher sample storage: the Arrow IPC sample files, their reader and their writer. */
export * from './store.js';
