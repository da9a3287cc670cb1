export * from './client.js';
export * from './errors.js';
export * from './routes.js';
export * from './types.js';
