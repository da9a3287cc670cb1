export * from './app.js';
export * from './config.js';
export * from './events.js';
export * from './ingress.js';
export * from './logger.js';
export * from './verify.js';
export * from './webhook.js';
